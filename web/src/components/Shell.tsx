// The frame around every page once logged in: navigation (collapsed into a
// menu on narrow screens), the /live indicator, theme toggle, the account
// page (own password) and logout.
// Pages below it may assume a user.

import { A, useLocation, useNavigate, type RouteSectionProps } from '@solidjs/router';
import { createEffect, createSignal, Show, Suspense, type JSX } from 'solid-js';
import { logout, restoring, roleAtLeast, user } from '../lib/api';
import { now } from '../lib/format';
import { liveRetryAt, liveState } from '../lib/live';
import { theme, toggleTheme } from '../lib/theme';

function LiveIndicator(): JSX.Element {
  const text = () => {
    const s = liveState();
    if (s === 'live') return 'Live';
    if (s === 'connecting') return 'Connecting…';
    const at = liveRetryAt();
    const secs = at === null ? 0 : Math.max(0, Math.ceil((at - now()) / 1000));
    return secs > 0 ? `Disconnected, retrying in ${secs} s` : 'Disconnected, retrying…';
  };
  return (
    <span class="live-status" data-testid="live-status" data-state={liveState()} role="status" aria-live="polite">
      <span class="dot" aria-hidden="true" />
      {text()}
    </span>
  );
}

export function Shell(props: RouteSectionProps): JSX.Element {
  const navigate = useNavigate();
  const location = useLocation();
  const [menuOpen, setMenuOpen] = createSignal(false);

  createEffect(() => {
    if (!restoring() && user() === null) {
      const next = location.pathname + location.search;
      navigate(next === '/' ? '/login' : `/login?next=${encodeURIComponent(next)}`, { replace: true });
    }
  });
  createEffect(() => {
    void location.pathname;
    setMenuOpen(false);
  });

  const link = (href: string, label: string, testid: string) => (
    <A href={href} end={href === '/'} activeClass="active" data-testid={testid}>
      {label}
    </A>
  );

  return (
    <Show when={user()} fallback={<p class="loading">Loading…</p>}>
      {(u) => (
        <div
          class="shell"
          onKeyDown={(e) => {
            if (e.key === 'Escape' && menuOpen()) setMenuOpen(false);
          }}
        >
          <a class="skip" href="#main">
            Skip to content
          </a>
          <header class="topbar">
            <A href="/" class="brand" end>
              Sentio
            </A>
            <button
              type="button"
              class="menu-toggle secondary"
              aria-expanded={menuOpen()}
              aria-controls="nav"
              onClick={() => setMenuOpen(!menuOpen())}
            >
              Menu
            </button>
            <nav id="nav" class="nav" classList={{ open: menuOpen() }} aria-label="Main">
              {link('/', 'Overview', 'nav-overview')}
              {link('/explorer', 'Explorer', 'nav-explorer')}
              {link('/devices', 'Devices', 'nav-devices')}
              {link('/alerts', 'Alert rules', 'nav-alerts')}
              <Show when={roleAtLeast('operator')}>{link('/connectors', 'Connectors', 'nav-connectors')}</Show>
              <Show when={roleAtLeast('admin')}>{link('/users', 'Users', 'nav-users')}</Show>
              <Show when={roleAtLeast('operator')}>{link('/audit', 'Audit log', 'nav-audit')}</Show>
            </nav>
            <div class="topbar-right">
              <LiveIndicator />
              <button
                type="button"
                class="secondary"
                data-testid="theme-toggle"
                aria-pressed={theme() === 'light'}
                title="Switch between the dark and the light theme"
                onClick={toggleTheme}
              >
                {theme() === 'dark' ? 'Light theme' : 'Dark theme'}
              </button>
              <span class="muted who" title={`role: ${u().role}`}>
                {u().username} ({u().role})
              </span>
              <A href="/account" class="button-link" activeClass="active" data-testid="account" title="Your account: change your password">
                Account
              </A>
              <button
                type="button"
                class="secondary"
                data-testid="logout"
                onClick={async () => {
                  await logout();
                  navigate('/login', { replace: true });
                }}
              >
                Log out
              </button>
            </div>
          </header>
          <main id="main" tabindex="-1">
            <Suspense fallback={<p class="loading">Loading…</p>}>{props.children}</Suspense>
          </main>
        </div>
      )}
    </Show>
  );
}

/** Shown in place of a page the user's role may not see. */
export function NotAllowed(props: { role: string }): JSX.Element {
  return (
    <section>
      <h1>Not allowed</h1>
      <p data-testid="not-allowed">This page needs the role {props.role} or above.</p>
    </section>
  );
}
