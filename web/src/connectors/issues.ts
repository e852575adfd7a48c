// Where a refused request's problems go in a form. A SENTIO_ERR_VALIDATION
// names each problem by a path: `body.config.subscriptions.0.topic` (a
// create or a change), `config.url` (enabling re-checks the stored config),
// `body.name`, `kind`. Every input of a form claims a path (`name`,
// `config.url`, `config.subscriptions.0.topic`); an issue goes to the input
// with the longest claimed path that is the issue's path or a prefix of it
// at a dot (`config.subscriptions.0.fields.rpm` → the fields editor of
// subscription 0), and what no input claims to the form's general line.

import { createMemo, createSignal } from 'solid-js';
import { ApiError } from '../lib/api';

export interface Issue {
  path: string;
  message: string;
}

/** The path as the form names it: without the `body.` of the request's schema. */
export function formPath(path: string): string {
  if (path === 'body') return '';
  return path.startsWith('body.') ? path.slice(5) : path;
}

/** Each issue placed at its claimed path, or left over. */
export function placeIssues(issues: readonly Issue[], claimed: Iterable<string>): { at: Map<string, string[]>; general: Issue[] } {
  const paths = [...claimed].sort((a, b) => b.length - a.length);
  const at = new Map<string, string[]>();
  const general: Issue[] = [];
  for (const issue of issues) {
    const p = formPath(issue.path);
    const home = paths.find((c) => c !== '' && (p === c || p.startsWith(`${c}.`)));
    if (home === undefined) general.push({ path: p, message: issue.message });
    // Deeper than the input (a mapping's entry, a list's item): say which.
    else at.set(home, [...(at.get(home) ?? []), p === home ? issue.message : `${p.slice(home.length + 1)}: ${issue.message}`]);
  }
  return { at, general };
}

/** The issues of an error thrown by the API client: a refused name is the name field's problem. */
export function issuesOf(err: unknown): Issue[] {
  if (!(err instanceof ApiError)) return [];
  if (err.code === 'SENTIO_ERR_CONFLICT') return [{ path: 'name', message: err.message }];
  return [...err.issues];
}

export type IssueBoard = ReturnType<typeof createIssueBoard>;

/** The issues of one form, and which paths its inputs claim (reactive). */
export function createIssueBoard() {
  const [claims, setClaims] = createSignal<ReadonlyMap<string, number>>(new Map());
  const [issues, setIssues] = createSignal<readonly Issue[]>([]);
  const placed = createMemo(() => placeIssues(issues(), claims().keys()));
  // Called from the inputs' effects: the functional update reads the claims without tracking them.
  const change = (path: string, by: number) =>
    setClaims((prev) => {
      const next = new Map(prev);
      const n = (next.get(path) ?? 0) + by;
      if (n > 0) next.set(path, n);
      else next.delete(path);
      return next;
    });
  return {
    /** An input shows the issues of `path` from now until `release` is called. */
    claim(path: string): () => void {
      change(path, 1);
      return () => change(path, -1);
    },
    at: (path: string): string[] => placed().at.get(path) ?? [],
    general: (): Issue[] => placed().general,
    count: (): number => issues().length,
    set: (list: readonly Issue[]) => setIssues(list),
    clear: () => setIssues([]),
  };
}
