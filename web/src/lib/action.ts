// A page's mutating actions: one at a time (`busy` disables the buttons),
// the last one's error for an ErrorBanner, and `after` (a refetch of what
// the action changed) once it succeeded.

import { createSignal } from 'solid-js';

export function createAction(after: () => Promise<unknown>) {
  const [busy, setBusy] = createSignal(false);
  const [error, setError] = createSignal<unknown>(null);
  /** Runs `fn` then `after`; resolves true when both succeeded (the error is shown otherwise). */
  const act = async (fn: () => Promise<unknown>): Promise<boolean> => {
    setBusy(true);
    setError(null);
    try {
      await fn();
      await after();
      return true;
    } catch (err) {
      setError(err);
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, act };
}
