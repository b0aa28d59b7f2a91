// etcd's txn request check (v3rpc checkIntervals): within one txn a key may be
// put at most once per branch path and not inside a range the txn deletes.
// Runs before a txn is applied; a violation is etcdserver's ErrDuplicateKey.
import { MvccRequestError, type RequestOp, type TxnRequest } from './types.js';
import { opKind, rangeEndOf } from './kvstore_txn.js';

interface Interval {
  start: Buffer;
  /** undefined = the point `start`; empty = unbounded. */
  end: Buffer | undefined;
}

function intersectsPoint(dels: Interval[], key: Buffer): boolean {
  return dels.some((d) => {
    if (d.end === undefined) return d.start.equals(key);
    if (Buffer.compare(key, d.start) < 0) return false;
    return d.end.length === 0 || Buffer.compare(key, d.end) < 0;
  });
}

function duplicate(): MvccRequestError {
  return new MvccRequestError('DUPLICATE_KEY', 'DuplicateKey', 'etcdserver: duplicate key given in txn request');
}

function checkIntervals(reqs: RequestOp[]): { puts: Set<string>; dels: Interval[] } {
  const dels: Interval[] = [];
  for (const op of reqs) {
    if (opKind(op) !== 'requestDeleteRange' || !op.requestDeleteRange) continue;
    const d = op.requestDeleteRange;
    dels.push({ start: d.key, end: d.rangeEnd && d.rangeEnd.length > 0 ? rangeEndOf(d.rangeEnd) : undefined });
  }
  const puts = new Set<string>();
  for (const op of reqs) {
    if (opKind(op) !== 'requestTxn' || !op.requestTxn) continue;
    const a = checkIntervals(op.requestTxn.success ?? []);
    const b = checkIntervals(op.requestTxn.failure ?? []);
    for (const k of a.puts) {
      if (puts.has(k) || intersectsPoint(dels, Buffer.from(k, 'latin1'))) throw duplicate();
      puts.add(k);
    }
    for (const k of b.puts) {
      if (puts.has(k) && !a.puts.has(k)) throw duplicate();
      if (intersectsPoint(dels, Buffer.from(k, 'latin1'))) throw duplicate();
      puts.add(k);
    }
    dels.push(...a.dels, ...b.dels);
  }
  for (const op of reqs) {
    if (opKind(op) !== 'requestPut' || !op.requestPut) continue;
    const k = op.requestPut.key.toString('latin1');
    if (puts.has(k) || intersectsPoint(dels, op.requestPut.key)) throw duplicate();
    puts.add(k);
  }
  return { puts, dels };
}

/** etcd's txn request check: a key may be put at most once per branch path and not in a range the txn deletes. */
export function validateTxn(req: TxnRequest): void {
  checkIntervals(req.success ?? []);
  checkIntervals(req.failure ?? []);
}
