// Series selectors: `cpu_usage{host=~"a.*",dc!="x"}`, `{__name__="x"}`.
// Shared by the query engines and the live stream.
//
// Parsing uses the official PromQL grammar (`@prometheus-io/lezer-promql`,
// the parser of Prometheus' own UI, see promql.ts): it is the reference for
// the syntax (quoted UTF-8 label names `{"a.b"="c"}`, the three string
// quotes with Go escapes, a trailing comma), so a selector that Prometheus
// accepts is accepted here and nothing else. On top of the grammar we apply
// Prometheus' semantic checks: valid regexes, the metric name at most once,
// and at least one matcher that does not match the empty string (`{}` and
// `{a=~".*"}` are refused as they would select everything).
//
// Matching follows Prometheus: a missing label has the value "" (so
// `{dc!="x"}` matches series without `dc`, `{dc=""}` matches only those);
// regexes are fully anchored and `.` matches a newline (`^(?s:re)$`). They
// run as JS regexes, which agree with Go's RE2 on the syntax in common use;
// a regex JS cannot compile is a bad query.

import { SentioError } from '../errors.js';
import { matchesValue, parsePromQL, selectorOf } from './promql.js';

export type MatchOp = '=' | '!=' | '=~' | '!~';
export interface Matcher { name: string; op: MatchOp; value: string }
/** The metric name is a matcher on `__name__`. */
export interface Selector { matchers: Matcher[] }

/** Parses one series selector. Throws SentioError SENTIO_ERR_BAD_QUERY. */
export function parseSelector(text: string): Selector {
  const node = parsePromQL(text);
  if (node.name !== 'VectorSelector') {
    throw new SentioError('SENTIO_ERR_BAD_QUERY', `not a series selector: ${JSON.stringify(text)}`);
  }
  return selectorOf(text, node);
}

/** Whether a series with these labels (`__name__` included) is selected. */
export function matchesLabels(sel: Selector, labels: Record<string, string>): boolean {
  for (const m of sel.matchers) {
    if (!matchesValue(m, labels[m.name] ?? '')) return false;
  }
  return true;
}

const IDENT = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const OP_ORDER: Record<MatchOp, number> = { '=': 0, '!=': 1, '=~': 2, '!~': 3 };

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Canonical text: the metric name in front when it is a plain `=` on an
 * identifier, then the other matchers sorted by name, op and value, without
 * duplicates. Equal selectors give equal text; the text parses back to them.
 */
export function formatSelector(sel: Selector): string {
  const sorted = [...sel.matchers].sort((a, b) => cmp(a.name, b.name) || OP_ORDER[a.op] - OP_ORDER[b.op] || cmp(a.value, b.value));
  const unique = sorted.filter((m, i) => {
    const p = sorted[i - 1];
    return !p || p.name !== m.name || p.op !== m.op || p.value !== m.value;
  });
  let head = '';
  const nameAt = unique.findIndex((m) => m.name === '__name__' && m.op === '=' && IDENT.test(m.value));
  if (nameAt >= 0) {
    head = unique[nameAt]!.value;
    unique.splice(nameAt, 1);
  }
  const body = unique.map((m) => `${LABEL.test(m.name) ? m.name : JSON.stringify(m.name)}${m.op}${JSON.stringify(m.value)}`);
  return head !== '' && body.length === 0 ? head : `${head}{${body.join(',')}}`;
}
