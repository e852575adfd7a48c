// Users (admin only; the API refuses others anyway): create, change role,
// reset password, disable. Each of these ends the user's sessions.

import { createSignal, For, Show, type JSX } from 'solid-js';
import { NotAllowed } from '../components/Shell';
import { Empty, ErrorBanner } from '../components/ui';
import { get, patch, post, roleAtLeast, user, type Role, type User } from '../lib/api';
import { fmtTime } from '../lib/format';
import { createAction } from '../lib/action';
import { createPolledList } from '../lib/poll';
import type { Items } from '../lib/types';

const ROLES: Role[] = ['viewer', 'operator', 'admin'];

export default function Users(): JSX.Element {
  return (
    <Show when={roleAtLeast('admin')} fallback={<NotAllowed role="admin" />}>
      <UserAdmin />
    </Show>
  );
}

function UserAdmin(): JSX.Element {
  const users = createPolledList(async () => (await get<Items<User>>('/api/users')).items, 30_000);
  const [username, setUsername] = createSignal('');
  const [password, setPassword] = createSignal('');
  const [role, setRole] = createSignal<Role>('viewer');
  const [message, setMessage] = createSignal<string | null>(null);
  const [resetFor, setResetFor] = createSignal<string | null>(null);
  const [newPassword, setNewPassword] = createSignal('');

  const action = createAction(() => users.refetch());
  const { busy, error } = action;
  /** Runs a change; `done` is said once it succeeded. */
  const act = async (fn: () => Promise<unknown>, done?: string) => {
    setMessage(null);
    if ((await action.act(fn)) && done) setMessage(done);
  };
  const isMe = (u: User) => user()?.id === u.id;

  return (
    <section>
      <h1>Users</h1>
      <form
        class="card"
        onSubmit={(e) => {
          e.preventDefault();
          void act(async () => {
            await post<User>('/api/users', { username: username().trim(), password: password(), role: role() });
            setUsername('');
            setPassword('');
          }, 'User created.');
        }}
      >
        <h2>New user</h2>
        <div class="row">
          <div class="field grow">
            <label for="user-create-username">Username</label>
            <input id="user-create-username" data-testid="user-create-username" required pattern="[A-Za-z0-9._@\-]{1,64}" autocomplete="off" value={username()} onInput={(e) => setUsername(e.currentTarget.value)} />
          </div>
          <div class="field grow">
            <label for="user-create-password">Password (12 characters or more)</label>
            <input id="user-create-password" data-testid="user-create-password" type="password" required minlength="12" autocomplete="new-password" value={password()} onInput={(e) => setPassword(e.currentTarget.value)} />
          </div>
          <div class="field">
            <label for="user-create-role">Role</label>
            <select id="user-create-role" data-testid="user-create-role" value={role()} onChange={(e) => setRole(e.currentTarget.value as Role)}>
              <For each={ROLES}>{(r) => <option value={r}>{r}</option>}</For>
            </select>
          </div>
          <div class="field">
            <button type="submit" data-testid="user-create-submit" disabled={busy()}>
              Create
            </button>
          </div>
        </div>
      </form>
      <ErrorBanner error={error()} />
      <Show when={message()}>
        <p role="status" class="ok-text">
          {message()}
        </p>
      </Show>
      <div class="card">
        <h2>All users</h2>
        <ErrorBanner error={users.error()} />
        <Show when={users.items().length > 0} fallback={<Empty>{users.loaded() ? 'No users.' : 'Loading…'}</Empty>}>
          <div class="table-wrap">
            <table class="reflow">
              <thead>
                <tr>
                  <th scope="col">Username</th>
                  <th scope="col">Role</th>
                  <th scope="col">State</th>
                  <th scope="col">Created</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                <For each={users.items()}>
                  {(u) => (
                    <tr data-testid="user-row" data-username={u.username} data-role={u.role} data-disabled={String(u.disabled)}>
                      <td data-label="Username">
                        {u.username}
                        {isMe(u) ? ' (you)' : ''}
                      </td>
                      <td data-label="Role">
                        <label class="sr-only" for={`role-${u.id}`}>
                          Role of {u.username}
                        </label>
                        <select
                          id={`role-${u.id}`}
                          data-testid="user-role"
                          value={u.role}
                          disabled={busy() || isMe(u)}
                          title={isMe(u) ? 'You cannot change your own role here' : undefined}
                          onChange={(e) => {
                            const r = e.currentTarget.value as Role;
                            void act(() => patch(`/api/users/${u.id}`, { role: r }), `${u.username} is now ${r}; their sessions were ended.`);
                          }}
                        >
                          <For each={ROLES}>{(r) => <option value={r}>{r}</option>}</For>
                        </select>
                      </td>
                      <td data-label="State">{u.disabled ? <span class="pill bad">disabled</span> : <span class="pill ok">active</span>}</td>
                      <td data-label="Created">{fmtTime(u.createdAt)}</td>
                      <td class="actions" data-label="Actions">
                        <button type="button" class="secondary" data-testid="user-reset-password" aria-expanded={resetFor() === u.id} onClick={() => setResetFor(resetFor() === u.id ? null : u.id)}>
                          Reset password
                        </button>
                        <Show when={!isMe(u)}>
                          <button
                            type="button"
                            class={u.disabled ? 'secondary' : 'danger'}
                            data-testid="user-disable"
                            disabled={busy()}
                            onClick={() => void act(() => patch(`/api/users/${u.id}`, { disabled: !u.disabled }), `${u.username} ${u.disabled ? 'enabled' : 'disabled'}.`)}
                          >
                            {u.disabled ? 'Enable' : 'Disable'}
                          </button>
                        </Show>
                        <Show when={resetFor() === u.id}>
                          <form
                            class="row inline-form"
                            onSubmit={(e) => {
                              e.preventDefault();
                              void act(async () => {
                                await patch(`/api/users/${u.id}`, { password: newPassword() });
                                setNewPassword('');
                                setResetFor(null);
                              }, `Password of ${u.username} reset; their sessions were ended.`);
                            }}
                          >
                            <div class="field">
                              <label for={`pw-${u.id}`}>New password</label>
                              <input id={`pw-${u.id}`} type="password" required minlength="12" autocomplete="new-password" value={newPassword()} onInput={(e) => setNewPassword(e.currentTarget.value)} />
                            </div>
                            <div class="field">
                              <button type="submit" disabled={busy()}>
                                Set
                              </button>
                            </div>
                          </form>
                        </Show>
                      </td>
                    </tr>
                  )}
                </For>
              </tbody>
            </table>
          </div>
        </Show>
      </div>
    </section>
  );
}
