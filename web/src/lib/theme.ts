// Dark by default; the choice is kept in localStorage.

import { createSignal } from 'solid-js';

export type Theme = 'dark' | 'light';
const KEY = 'sentio.theme';

function stored(): Theme {
  try {
    return localStorage.getItem(KEY) === 'light' ? 'light' : 'dark';
  } catch {
    return 'dark';
  }
}

const [theme, setThemeSignal] = createSignal<Theme>(stored());
export { theme };

function apply(t: Theme): void {
  document.documentElement.dataset.theme = t;
}
apply(theme());

export function toggleTheme(): void {
  const next: Theme = theme() === 'dark' ? 'light' : 'dark';
  setThemeSignal(next);
  apply(next);
  try {
    localStorage.setItem(KEY, next);
  } catch {
    // not persisted
  }
}
