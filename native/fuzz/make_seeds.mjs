// Writes the seed inputs of the fuzz targets into native/fuzz/seeds/<target>/.
// Each seed is one options byte (see native/fuzz/src/lib.rs) followed by the batch.
// Run from the repo root: node native/fuzz/make_seeds.mjs
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Packr } from 'msgpackr';

const here = dirname(fileURLToPath(import.meta.url));

// Options byte: bits 0-1 precision (None, ns, s, h), 2-3 db (None, "telegraf",
// "", "a \"q\"\\é"), 4-5 output (RW 2x1, columns, none, RW 3x2), 6-7 max_errors (1000, 0, 1, 3).
const opt = ({ precision = 0, db = 0, output = 0, maxErrors = 0 } = {}) => precision | (db << 2) | (output << 4) | (maxErrors << 6);

function write(target, name, sel, body) {
  const dir = join(here, 'seeds', target);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, name), Buffer.concat([Buffer.from([sel]), Buffer.from(body)]));
}

// ---- line protocol ----
const lp = (lines) => lines.join('\n') + '\n';
write('line_protocol', 'telegraf', opt({ precision: 1, db: 1 }), lp([
  'cpu,cpu=cpu-total,host=edge-01 usage_user=3.2,usage_system=1.1,usage_idle=95.7 1700000000000000000',
  'mem,host=edge-01 used=4213456896i,available=12615254016i,used_percent=25.04 1700000000000000000',
  'disk,device=sda1,fstype=ext4,host=edge-01,mode=rw,path=/ free=51234567168u,inodes_used=312u 1700000000000000000',
  'system,host=edge-01 load1=0.42,n_cpus=8i,uptime_format="3 days,  4:05" 1700000000000000000',
  'cpu,cpu=cpu-total,host=edge-01 usage_user=3.4,usage_system=1.0,usage_idle=95.6 1700000010000000000',
]));
write('line_protocol', 'escapes', opt({ output: 1 }), lp([
  'we\\ ather\\,x,lo\\=c=San\\ Jose,k\\\\=v\\,1 temp\\ c=21.5,hum\\=id=40i 1700000000',
  'm,t=a\\b f\\=g="x\\"y\\\\z",n=1 1700000000000',
  'm\\ ,\\ =\\ \\ f=1',
  'trail\\ f=1\\',
  'm,t=v\\\\ f=1',
]));
write('line_protocol', 'quotes', opt({ output: 0, db: 3 }), lp([
  'log,app=web msg="GET /a b,c=d 200",code=200i 1700000000000',
  'log,app=web msg="",code=404i',
  'log,app=web msg="unterminated,code=500i 1700000000000',
  'log,app=web msg="a"b",code=1i',
  'log,app=web a="x" , b=1',
  'q,"t"="v" "f"=1',
]));
write('line_protocol', 'comments-crlf', opt({ precision: 2, output: 3 }), '# seq=42\r\ncpu v=1 1700000000\r\n\r\n#comment v=2\r\n  \r\ncpu v=2 1700000001\r\nx v=3\r');
write('line_protocol', 'errors', opt({ maxErrors: 2, output: 1 }), Buffer.concat([
  Buffer.from(lp([
    'nofields',
    'm f=',
    'm =1',
    'm f=1 notatime',
    'm f=1 17e9',
    'm f=abc',
    'm f=1i2',
    'm,t f=1',
    'm f=18446744073709551616u',
    'm f=9223372036854775808i',
    'm f=1 1 2',
    'm  f=1  1700000000',
  ])),
  Buffer.from([0x6d, 0x20, 0x66, 0x3d, 0x31, 0xff, 0xfe, 0x0a]),
  Buffer.from('m f=1\n'),
]));
write('line_protocol', 'numbers', opt({ output: 2 }), lp([
  'n a=1e3,b=-.5,c=+1,d=inf,e=-Inf,f=NaN,g=1.,h=.1e-2,i=0x10,j=1_000',
  'n a=-9223372036854775808i,b=9223372036854775807i,c=18446744073709551615u,d=0u,e=-0i',
  'n a=t,b=T,c=true,d=True,e=TRUE,f=f,g=F,h=false,i=False,j=FALSE,k=tRUE',
  'n a=1.7976931348623157e308,b=4.9e-324,c=1e400,d=-0,e=00012,f=1e,g=1e+',
  'n a=123456789012345678901234567890,b=0.000000000000000000000000001',
]));
write('line_protocol', 'timestamps', opt({ precision: 3 }), lp([
  't v=1 0',
  't v=1 -1',
  't v=1 1700000000',
  't v=1 1700000000000',
  't v=1 1700000000000000',
  't v=1 1700000000000000000',
  't v=1 9223372036854775807',
  't v=1 -9223372036854775808',
  't v=1 9223372036854775808',
  't v=1 99999999999',
  't v=1 100000000000',
]));
write('line_protocol', 'labels', opt({ db: 1, output: 3 }), lp([
  ',host=a f=1',
  'm,__name__=x,host=a f=1',
  'm,db=mine,host=a f=1',
  'm,host=a,host=b f=1',
  'm,z=1,a=2,m=3,=4,k= f=1,f=2,f=3',
  'm,host=a f=1',
  'm,host=a f=1,g=2',
  'm,host=a g=3',
  'é,ключ=值 поле=1',
  '\tm\t,t=\x01 f=1',
]));
write('line_protocol', 'empty', opt(), '');

// ---- msgpack ----
const plain = new Packr({ useRecords: false, variableMapSize: true });
const wide = new Packr({ useRecords: false }); // map16 for every object, like msgpackr's default

write('msgpack', 'basic', opt({ db: 1 }), plain.pack({
  seq: 7,
  db: 'telegraf',
  precision: 'ms',
  points: [
    ['cpu', { host: 'edge-01', cpu: 'cpu-total' }, { usage_user: 3.2, usage_idle: 95.7, n: 8, ok: true, s: 'x' }, 1700000000000],
    ['cpu', { host: 'edge-01', cpu: 'cpu-total' }, { usage_user: 3.4, usage_idle: 95.6, n: 8, ok: false, s: 'y' }, 1700000010000],
    ['mem', null, { used: 4213456896, pct: 25.04 }],
    ['mem', null, { used: -1 }, null],
  ],
}));
write('msgpack', 'map16-ns', opt({ output: 1 }), wide.pack({
  precision: 'ns',
  points: [
    ['disk', { path: '/', dev: 'sda1' }, { free: 51234567168, inodes: 312 }, 1700000000000000000n],
    ['disk', { path: '/', dev: 'sda1' }, { free: 51234567000 }, 1.7e18],
  ],
}));
write('msgpack', 'precisions', opt({ precision: 2, output: 3 }), plain.pack({
  precision: 'h',
  seq: 18446744073709551615n,
  points: [
    ['t', null, { v: 1 }, 1],
    ['t', null, { v: 1 }, -9223372036854775808n],
    ['t', null, { v: 1 }, 18446744073709551615n],
    ['t', null, { v: 1 }, 0],
    ['t', null, { v: 1 }, 1.5],
  ],
}));
write('msgpack', 'point-errors', opt({ maxErrors: 3, output: 1 }), plain.pack({
  points: [
    ['only', {}],
    ['m', null, {}],
    ['m', { t: 1 }, { v: 1 }],
    ['m', null, { v: null }],
    ['m', null, { '': 1 }],
    [1, null, { v: 1 }],
    ['m', null, { v: [1, 2] }],
    ['m', null, { v: { a: 1 } }],
    ['m', null, { v: Buffer.from([1, 2, 3]) }],
    ['m', null, { v: 1 }, 'ts'],
    ['m', null, { v: 1 }, 1, 'extra'],
    'not a point',
    ['ok', { '': 'x', y: '' }, { v: 1 }],
  ],
}));
write('msgpack', 'labels', opt({ db: 3, output: 0 }), plain.pack({
  db: 'batchdb',
  extra: { nested: [1, { a: [true, null, 1.5] }], bin: Buffer.from([0, 1]) },
  points: [
    ['', { host: 'a' }, { f: 1 }],
    ['m', { __name__: 'x', db: 'mine' }, { f: 1 }],
    ['é', { 'ключ': '值', q: 'a"b\\c\n\u0001' }, { 'поле': 2.5 }],
  ],
}));
write('msgpack', 'malformed-trailing', opt(), Buffer.concat([plain.pack({ points: [['m', null, { v: 1 }]] }), Buffer.from([0xc0])]));
write('msgpack', 'malformed-no-points', opt({ maxErrors: 1 }), plain.pack({ seq: 1, db: 'x' }));
write('msgpack', 'malformed-precision', opt({ output: 2 }), plain.pack({ precision: 'fortnight', points: [] }));
write('msgpack', 'malformed-not-map', opt(), plain.pack([1, 2, 3]));
// float32 values and ext types, written by hand:
// {"points": [["f", nil, {"a": float32 1.5, "b": -1 (int8), "c": 255 (uint8)}, uint32 1700000000]]} with precision s
write('msgpack', 'widths', opt({ precision: 2 }), Buffer.concat([
  Buffer.from([0x81, 0xa6]), Buffer.from('points'),
  Buffer.from([0x91, 0x94, 0xa1]), Buffer.from('f'), Buffer.from([0xc0, 0x83]),
  Buffer.from([0xa1]), Buffer.from('a'), Buffer.from([0xca, 0x3f, 0xc0, 0x00, 0x00]),
  Buffer.from([0xa1]), Buffer.from('b'), Buffer.from([0xd0, 0xff]),
  Buffer.from([0xa1]), Buffer.from('c'), Buffer.from([0xcc, 0xff]),
  Buffer.from([0xce, 0x65, 0x53, 0xf1, 0x00]),
]));
console.log('seeds written under', join(here, 'seeds'));
