// PromQL syntax for the query engines: the official Lezer grammar of
// Prometheus' own UI (`@prometheus-io/lezer-promql`), run in strict mode so
// a syntax error throws instead of producing error-recovery nodes. We use
// the grammar rather than a hand-written parser because it is the reference
// for what is valid PromQL (incl. quoted UTF-8 label names, duration
// arithmetic, every function name): a query outside the embedded subset is
// then recognised as valid and refused with a name for what it uses
// (SENTIO_ERR_UNSUPPORTED_QUERY), not misreported as a syntax error.
//
// The grammar only checks syntax. What Prometheus checks after parsing
// (types, a selector that matches everything) is checked here for the parts
// we evaluate: selectors (validateSelector) and, in embedded.ts, the subset.
// MetricsQL-only syntax (e.g. `rate(x)` without a window, unknown function
// names) is outside PromQL: unknown function names fail to parse here.

import { parser } from '@prometheus-io/lezer-promql';
import { SentioError } from '../errors.js';
import type { Matcher, MatchOp, Selector } from './selector.js';

export type SyntaxNode = ReturnType<typeof parser.parse>['topNode'];

const strict = parser.configure({ strict: true });

/** The expression node under the PromQL root. Throws SENTIO_ERR_BAD_QUERY. */
export function parsePromQL(text: string): SyntaxNode {
  if (text.trim() === '') throw new SentioError('SENTIO_ERR_BAD_QUERY', 'empty query');
  let root: SyntaxNode;
  try {
    root = strict.parse(text).topNode;
  } catch (err) {
    const m = /No parse at (\d+)/.exec(err instanceof Error ? err.message : '');
    const at = m ? Number(m[1]) : -1;
    const where = at >= 0 ? ` at position ${at} (near ${JSON.stringify(text.slice(at, at + 20))})` : '';
    throw new SentioError('SENTIO_ERR_BAD_QUERY', `cannot parse query${where}`, { cause: err });
  }
  const expr = root.firstChild;
  if (!expr) throw new SentioError('SENTIO_ERR_BAD_QUERY', 'empty query');
  return expr;
}

export function children(node: SyntaxNode): SyntaxNode[] {
  const out: SyntaxNode[] = [];
  for (let c = node.firstChild; c; c = c.nextSibling) out.push(c);
  return out;
}

export function textOf(src: string, node: SyntaxNode): string {
  return src.slice(node.from, node.to);
}

/** Go's strconv.Unquote for PromQL strings: "..." and '...' with escapes, `...` raw. */
export function unquote(lit: string): string {
  const q = lit[0];
  if (lit.length < 2 || lit[lit.length - 1] !== q) throw bad(`malformed string ${lit}`);
  const body = lit.slice(1, -1);
  if (q === '`') return body;
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const e = body[++i];
    switch (e) {
      case 'a': out += '\x07'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'v': out += '\v'; break;
      case '\\': out += '\\'; break;
      case '"':
      case "'":
        if (e !== q) throw bad(`invalid escape \\${e} in ${lit}`);
        out += e;
        break;
      case 'x':
      case 'u':
      case 'U': {
        const n = e === 'x' ? 2 : e === 'u' ? 4 : 8;
        const hex = body.slice(i + 1, i + 1 + n);
        if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(hex)) throw bad(`invalid escape \\${e}${hex} in ${lit}`);
        const cp = parseInt(hex, 16);
        if (e === 'x') out += String.fromCharCode(cp);
        else if (cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000)) throw bad(`invalid code point \\${e}${hex} in ${lit}`);
        else out += String.fromCodePoint(cp);
        i += n;
        break;
      }
      default: {
        const oct = body.slice(i, i + 3);
        if (!/^[0-7]{3}$/.test(oct) || parseInt(oct, 8) > 255) throw bad(`invalid escape \\${e ?? ''} in ${lit}`);
        out += String.fromCharCode(parseInt(oct, 8));
        i += 2;
      }
    }
  }
  return out;
}

function bad(message: string): SentioError {
  return new SentioError('SENTIO_ERR_BAD_QUERY', message);
}

const OPS: Record<string, MatchOp> = { EqlSingle: '=', Neq: '!=', EqlRegex: '=~', NeqRegex: '!~' };

/** A label name node (LabelName or QuotedLabelName) as its string. */
export function labelName(src: string, node: SyntaxNode): string {
  if (node.name === 'QuotedLabelName') return unquote(textOf(src, node.firstChild!));
  return textOf(src, node);
}

/** The matchers of a VectorSelector node, the metric name first (as `__name__="..."`). */
export function selectorOf(src: string, node: SyntaxNode): Selector {
  const matchers: Matcher[] = [];
  for (const c of children(node)) {
    if (c.name === 'Identifier') matchers.push({ name: '__name__', op: '=', value: textOf(src, c) });
    else if (c.name === 'LabelMatchers') {
      for (const m of children(c)) {
        if (m.name === 'QuotedLabelName') {
          // `{"metric.name"}`: a quoted metric name.
          matchers.push({ name: '__name__', op: '=', value: labelName(src, m) });
          continue;
        }
        const parts = children(m);
        const nameNode = parts[0]!;
        const op = OPS[parts[1]?.firstChild?.name ?? ''];
        const value = parts[2];
        if (!op || !value) throw bad(`malformed label matcher ${textOf(src, m)}`);
        matchers.push({ name: labelName(src, nameNode), op, value: unquote(textOf(src, value)) });
      }
    }
  }
  validateSelector(matchers, textOf(src, node));
  return { matchers };
}

/** Prometheus' own checks on a selector: valid regexes, one metric name, not matching every series. */
export function validateSelector(matchers: Matcher[], text: string): void {
  let names = 0;
  let nonEmpty = false;
  for (const m of matchers) {
    if (m.name === '__name__' && m.op === '=') names++;
    if (m.op === '=~' || m.op === '!~') compileRegex(m.value);
    if (!matchesValue(m, '')) nonEmpty = true;
  }
  if (names > 1) throw bad(`metric name given more than once in ${text}`);
  if (!nonEmpty) throw bad(`vector selector ${text} must contain at least one matcher that does not match the empty string`);
}

const regexCache = new Map<string, RegExp>();

/**
 * A label regex as Prometheus compiles it: fully anchored, `.` matching
 * newlines (`^(?s:re)$`). JS and RE2 agree on the syntax in common use;
 * RE2-only constructs (e.g. `\z`, `(?P<n>...)`) are refused as bad queries.
 */
export function compileRegex(re: string): RegExp {
  let r = regexCache.get(re);
  if (r) return r;
  // RE2's leading `(?i)` (the common case of its inline flags) as the JS flag.
  const fold = re.startsWith('(?i)');
  const src = fold ? re.slice(4) : re;
  const flags = fold ? 'si' : 's';
  try {
    new RegExp(src, `${flags}u`); // alone first: unbalanced parentheses would otherwise escape the anchors
    r = new RegExp(`^(?:${src})$`, `${flags}u`);
  } catch {
    try {
      new RegExp(src, flags);
      r = new RegExp(`^(?:${src})$`, flags);
    } catch (err) {
      throw bad(`invalid regular expression ${JSON.stringify(re)}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (regexCache.size >= 1000) regexCache.clear();
  regexCache.set(re, r);
  return r;
}

export function matchesValue(m: Matcher, value: string): boolean {
  switch (m.op) {
    case '=': return value === m.value;
    case '!=': return value !== m.value;
    case '=~': return compileRegex(m.value).test(value);
    case '!~': return !compileRegex(m.value).test(value);
  }
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, y: 31_536_000_000 };

/** A PromQL duration (`5m`, `1h30m`, `90s`, `1.5` = seconds) in ms. */
export function parseDuration(text: string): number {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Math.round(Number(t) * 1000);
  const re = /(\d+)(ms|y|w|d|h|m|s)/gy;
  let total = 0;
  let pos = 0;
  for (let m = re.exec(t); m; m = re.exec(t)) {
    total += Number(m[1]) * UNITS[m[2]!]!;
    pos = re.lastIndex;
  }
  if (pos !== t.length || pos === 0) throw bad(`invalid duration ${JSON.stringify(text)}`);
  return total;
}

export interface TopAggregation {
  op: string;
  by?: string[];
  without?: string[];
  /** The argument nodes of the aggregation. */
  args: SyntaxNode[];
}

function unwrapParens(node: SyntaxNode): SyntaxNode {
  let n = node;
  while (n.name === 'ParenExpr' && n.firstChild) n = n.firstChild;
  return n;
}

/** The aggregation at the top of a parsed query (parentheses skipped), if it is one. */
export function topAggregation(src: string, expr: SyntaxNode): TopAggregation | undefined {
  const node = unwrapParens(expr);
  if (node.name !== 'AggregateExpr') return undefined;
  const out: TopAggregation = { op: textOf(src, node.firstChild!).toLowerCase(), args: [] };
  for (const c of children(node)) {
    if (c.name === 'FunctionCallBody') out.args = children(c).map(unwrapParens);
    if (c.name === 'AggregateModifier') {
      const grouping = c.lastChild?.name === 'GroupingLabels' ? c.lastChild : c;
      const labels = children(grouping)
        .filter((l) => l.name === 'LabelName' || l.name === 'QuotedLabelName')
        .map((l) => labelName(src, l));
      if (c.firstChild!.name === 'By') out.by = labels;
      else out.without = labels;
    }
  }
  return out;
}
