// The user's own account: change the password. The server then ends every
// other session of the user and revokes this one's tokens too; the client
// (changePassword) logs in again with the new password, so this page stays.

import { createSignal, Show, type JSX } from 'solid-js';
import { ErrorBanner } from '../components/ui';
import { changePassword, user } from '../lib/api';
import { fmtTime } from '../lib/format';

const MIN_PASSWORD = 12;

export default function Account(): JSX.Element {
  const [current, setCurrent] = createSignal('');
  const [next, setNext] = createSignal('');
  const [confirm, setConfirm] = createSignal('');
  const [error, setError] = createSignal<unknown>(null);
  const [done, setDone] = createSignal<number | null>(null);
  const [busy, setBusy] = createSignal(false);

  const submit = async () => {
    if (busy()) return;
    setError(null);
    setDone(null);
    if (current() === '') return setError(new Error('Enter your current password.'));
    if (next().length < MIN_PASSWORD) return setError(new Error(`The new password needs ${MIN_PASSWORD} characters or more.`));
    if (next() !== confirm()) return setError(new Error('The new password and its confirmation differ.'));
    if (next() === current()) return setError(new Error('The new password is the same as the current one.'));
    setBusy(true);
    try {
      await changePassword(current(), next());
      setCurrent('');
      setNext('');
      setConfirm('');
      setDone(Date.now());
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section>
      <h1>Your account</h1>
      <Show when={user()}>
        {(u) => (
          <dl class="facts">
            <dt>Username</dt>
            <dd>{u().username}</dd>
            <dt>Role</dt>
            <dd>{u().role}</dd>
            <dt>Created</dt>
            <dd>{fmtTime(u().createdAt)}</dd>
          </dl>
        )}
      </Show>
      <form
        class="card narrow-card"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <h2>Change password</h2>
        <p class="small muted">Your other sessions (other browsers and devices) end; this one continues.</p>
        <div class="field">
          <label for="password-current">Current password</label>
          <input id="password-current" data-testid="password-current" type="password" required autocomplete="current-password" value={current()} onInput={(e) => setCurrent(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="password-new">New password ({MIN_PASSWORD} characters or more)</label>
          <input id="password-new" data-testid="password-new" type="password" required minlength={MIN_PASSWORD} maxlength="256" autocomplete="new-password" value={next()} onInput={(e) => setNext(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="password-confirm">New password again</label>
          <input id="password-confirm" data-testid="password-confirm" type="password" required maxlength="256" autocomplete="new-password" value={confirm()} onInput={(e) => setConfirm(e.currentTarget.value)} />
        </div>
        <ErrorBanner error={error()} testid="password-error" />
        <Show when={done()}>
          <p role="status" class="ok-text" data-testid="password-done">
            Password changed. Your other sessions were ended.
          </p>
        </Show>
        <button type="submit" data-testid="password-save" disabled={busy()}>
          {busy() ? 'Changing…' : 'Change password'}
        </button>
      </form>
    </section>
  );
}
