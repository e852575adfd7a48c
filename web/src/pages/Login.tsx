// Login: the errors an operator can act on are told apart (wrong
// credentials, too many attempts with the time to wait, gateway unreachable).

import { useNavigate, useSearchParams } from '@solidjs/router';
import { createEffect, createSignal, onCleanup, Show, type JSX } from 'solid-js';
import { ApiError, login, restoring, user } from '../lib/api';
import { now } from '../lib/format';

function safeNext(next: unknown): string {
  // Only paths of this app: no "//host" or absolute URLs.
  return typeof next === 'string' && next.startsWith('/') && !next.startsWith('//') ? next : '/';
}

export default function Login(): JSX.Element {
  const navigate = useNavigate();
  const [params] = useSearchParams<{ next?: string }>();
  const [username, setUsername] = createSignal('');
  const [password, setPassword] = createSignal('');
  const [busy, setBusy] = createSignal(false);
  const [error, setError] = createSignal<string | null>(null);
  const [blockedUntil, setBlockedUntil] = createSignal(0);

  createEffect(() => {
    if (!restoring() && user() !== null) navigate(safeNext(params.next), { replace: true });
  });

  const waitSeconds = () => Math.max(0, Math.ceil((blockedUntil() - now()) / 1000));
  const timer = setInterval(() => {
    if (blockedUntil() !== 0 && waitSeconds() === 0) {
      setBlockedUntil(0);
      setError('You may try again now.');
    }
  }, 1000);
  onCleanup(() => clearInterval(timer));

  const submit = async (e: SubmitEvent) => {
    e.preventDefault();
    if (busy()) return;
    setBusy(true);
    setError(null);
    try {
      await login(username().trim(), password());
      navigate(safeNext(params.next), { replace: true });
    } catch (err) {
      setPassword('');
      if (err instanceof ApiError && err.code === 'SENTIO_ERR_LOGIN_FAILED') setError('Wrong username or password.');
      else if (err instanceof ApiError && err.status === 429) {
        const s = err.retryAfterSeconds ?? 60;
        setBlockedUntil(Date.now() + s * 1000);
        setError(`Too many attempts. Try again in ${s} s.`);
      } else if (err instanceof ApiError && err.code === 'NETWORK') setError('The gateway cannot be reached. Check that it is running, then try again.');
      else if (err instanceof ApiError) setError(`Login failed: ${err.message} (${err.code})`);
      else setError(`Login failed: ${String(err)}`);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="login-page" id="main">
      <form class="card login" onSubmit={submit} aria-describedby="login-error">
        <h1>Sentio</h1>
        <p class="muted">Sign in to the gateway dashboard.</p>
        <label for="login-username">Username</label>
        <input
          id="login-username"
          data-testid="login-username"
          name="username"
          autocomplete="username"
          autocapitalize="none"
          spellcheck={false}
          required
          value={username()}
          onInput={(e) => setUsername(e.currentTarget.value)}
        />
        <label for="login-password">Password</label>
        <input
          id="login-password"
          data-testid="login-password"
          name="password"
          type="password"
          autocomplete="current-password"
          required
          value={password()}
          onInput={(e) => setPassword(e.currentTarget.value)}
        />
        <button type="submit" data-testid="login-submit" disabled={busy()}>
          {busy() ? 'Signing in…' : 'Sign in'}
        </button>
        <div id="login-error" aria-live="assertive">
          <Show when={error()}>
            <p class="error" role="alert" data-testid="login-error">
              {waitSeconds() > 0 ? `Too many attempts. Try again in ${waitSeconds()} s.` : error()}
            </p>
          </Show>
        </div>
      </form>
    </main>
  );
}
