// node-opcua prints its warnings and errors to the console (coloured, with
// a stack-derived context), including, on Node 20, one at load time about
// `--security-revert=CVE-2023-46809` that concerns only the PKCS#1 v1.5
// policies Sentio does not offer. Its loggers are process-wide: from the
// moment this module is loaded they write nothing to the console, and what
// they say goes to the debug level of the logger given last (a gateway runs
// with one log).

import { format } from 'node:util';
import { setDebugLogger, setErrorLogger, setWarningLogger } from 'node-opcua';
import type { Logger } from '../../log/index.js';

let sink: Logger | undefined;

function forward(_context: unknown, ...args: unknown[]): void {
  sink?.debug(`node-opcua: ${format(...args)}`);
}

setWarningLogger(forward);
setErrorLogger(forward);
setDebugLogger(forward);

/** Sends what node-opcua logs to `log`, at debug level. */
export function routeNodeOpcuaLog(log: Logger): void {
  sink = log;
}
