// A dead session or subscription, found by silence: OPC-UA servers publish
// at least a keep-alive every publishingInterval × maxKeepAliveCount, and a
// poll reads every pollInterval; when nothing at all arrives for the
// watchdog's timeout (three of those periods), the connection is dead even
// if no socket said so (a network cut without a reset, a server that hangs,
// node-opcua staying silent after a reconnect).

export class Watchdog {
  private last: number;
  private readonly timer: NodeJS.Timeout;

  constructor(
    readonly timeoutMs: number,
    onDead: (silentMs: number) => void,
    private readonly now: () => number = Date.now,
  ) {
    this.last = now();
    this.timer = setInterval(() => {
      const silent = this.now() - this.last;
      if (silent > timeoutMs) {
        this.stop();
        onDead(silent);
      }
    }, Math.max(10, Math.min(1000, timeoutMs / 4)));
  }

  /** Something arrived: data, a keep-alive or a poll's answer. */
  feed(): void {
    this.last = this.now();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
