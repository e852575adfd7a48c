// Entry: session restore, theme, /live lifecycle and the routes. Every page
// is its own chunk (lazy), so the first paint loads only this and one page.

import { Route, Router, type RouteSectionProps } from '@solidjs/router';
import { createEffect, lazy, Suspense, type JSX } from 'solid-js';
import { render } from 'solid-js/web';
import { Shell } from './components/Shell';
import { restore, user } from './lib/api';
import { startLive, stopLive } from './lib/live';
import './lib/theme';
import './styles.css';

const Login = lazy(() => import('./pages/Login'));
const Overview = lazy(() => import('./pages/Overview'));
const Explorer = lazy(() => import('./pages/Explorer'));
const Devices = lazy(() => import('./pages/Devices'));
const DevicePage = lazy(() => import('./pages/DevicePage'));
const Alerts = lazy(() => import('./pages/Alerts'));
const Connectors = lazy(() => import('./pages/Connectors'));
const ConnectorPage = lazy(() => import('./pages/ConnectorPage'));
const Users = lazy(() => import('./pages/Users'));
const Audit = lazy(() => import('./pages/Audit'));
const Account = lazy(() => import('./pages/Account'));
const NotFound = lazy(() => import('./pages/NotFound'));

function App(props: RouteSectionProps): JSX.Element {
  createEffect(() => (user() !== null ? startLive() : stopLive()));
  return <Suspense fallback={<p class="loading">Loading…</p>}>{props.children}</Suspense>;
}

void restore();

render(
  () => (
    <Router root={App}>
      <Route path="/login" component={Login} />
      <Route path="/" component={Shell}>
        <Route path="/" component={Overview} />
        <Route path="/explorer" component={Explorer} />
        <Route path="/devices" component={Devices} />
        <Route path="/devices/:id" component={DevicePage} />
        <Route path="/alerts" component={Alerts} />
        <Route path="/connectors" component={Connectors} />
        <Route path="/connectors/:id" component={ConnectorPage} />
        <Route path="/users" component={Users} />
        <Route path="/audit" component={Audit} />
        <Route path="/account" component={Account} />
        <Route path="*" component={NotFound} />
      </Route>
    </Router>
  ),
  document.getElementById('root')!,
);
