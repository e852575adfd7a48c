// Topic patterns of MQTT subscriptions: MQTT's own filters (`+` one level,
// `#` the rest, at the end only) where a level may instead be a named
// capture, `{name}`, which matches one level like `+` and puts that level
// into the sample's label `name`. `plant/{site}/{device}/#` subscribes to
// `plant/+/+/#` and gives `plant/p7/m3/temp` the labels site=p7, device=m3.

export interface TopicPattern {
  /** As configured. */
  readonly pattern: string;
  /** The MQTT filter subscribed to. */
  readonly filter: string;
  /** The captures' labels of `topic`, or undefined when it does not match. */
  match(topic: string): Record<string, string> | undefined;
}

const CAPTURE = /^\{([A-Za-z_][A-Za-z0-9_]*)\}$/;

/** Throws an Error naming the problem for an invalid pattern. */
export function parseTopicPattern(pattern: string): TopicPattern {
  if (pattern === '') throw new Error('a topic pattern must not be empty');
  if (pattern.includes('\u0000')) throw new Error('a topic pattern must not contain NUL');
  const levels = pattern.split('/');
  const captures: Array<string | undefined> = [];
  const names = new Set<string>();
  const filter = levels
    .map((level, i) => {
      const c = CAPTURE.exec(level);
      if (c) {
        const name = c[1]!;
        if (name === '__name__') throw new Error('a capture may not be named __name__');
        if (names.has(name)) throw new Error(`capture {${name}} appears twice`);
        names.add(name);
        captures.push(name);
        return '+';
      }
      if (level.includes('{') || level.includes('}')) throw new Error(`level "${level}": a capture is a whole level, {name}, with a name of letters, digits and _`);
      if (level === '#' && i !== levels.length - 1) throw new Error('# may only be the last level');
      if (level !== '#' && level !== '+' && (level.includes('#') || level.includes('+'))) throw new Error(`level "${level}": + and # stand alone in a level`);
      captures.push(undefined);
      return level;
    })
    .join('/');
  return {
    pattern,
    filter,
    match(topic) {
      const got = topic.split('/');
      const labels: Record<string, string> = {};
      for (let i = 0; i < levels.length; i++) {
        const want = levels[i]!;
        if (want === '#') {
          // MQTT: `a/#` also matches `a`; a filter starting with a wildcard never matches `$SYS/...`.
          if (i === 0 && topic.startsWith('$')) return undefined;
          return labels;
        }
        const level = got[i];
        if (level === undefined) return undefined;
        const capture = captures[i];
        if (want === '+' || capture !== undefined) {
          if (i === 0 && level.startsWith('$')) return undefined;
          if (capture !== undefined) {
            // An empty level captures nothing: labels with empty values are no labels.
            if (level !== '') labels[capture] = level;
          }
          continue;
        }
        if (level !== want) return undefined;
      }
      return got.length === levels.length ? labels : undefined;
    },
  };
}
