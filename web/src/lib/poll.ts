// A list fetched now and every few seconds, reconciled by id into a store
// so rows keep their DOM (and keyboard focus) across refreshes.

import { createSignal, onCleanup } from 'solid-js';
import { createStore, reconcile } from 'solid-js/store';

export function createPolledList<T extends { id: string }>(
  fetch: () => Promise<T[]>,
  everyMs: number,
): { items: () => T[]; error: () => unknown; loaded: () => boolean; refetch: () => Promise<void> } {
  const [store, setStore] = createStore<{ items: T[] }>({ items: [] });
  const [error, setError] = createSignal<unknown>(null);
  const [loaded, setLoaded] = createSignal(false);
  let alive = true;
  const refetch = async () => {
    try {
      const items = await fetch();
      if (!alive) return;
      setStore('items', reconcile(items, { key: 'id' }));
      setError(null);
      setLoaded(true);
    } catch (err) {
      if (alive) setError(err);
    }
  };
  void refetch();
  const timer = everyMs > 0 ? setInterval(() => void refetch(), everyMs) : undefined;
  onCleanup(() => {
    alive = false;
    clearInterval(timer);
  });
  return { items: () => store.items, error, loaded, refetch };
}
