import { describe, expect, it } from 'vitest';
import { createStatusPrinter } from '../../../../dev/stack/status.js';

function sink(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, out: { isTTY, write: (t: string) => writes.push(t) } };
}
const at = (s: number) => new Date(Date.UTC(2026, 11, 1, 12, 0, s));

describe('the local stack status line', () => {
  it('not a terminal: a line only when the status changes, not every second', () => {
    const { writes, out } = sink(false);
    const print = createStatusPrinter(out);
    print('submitted 1 | kill switch: open', at(0));
    print('submitted 1 | kill switch: open', at(1));
    print('submitted 1 | kill switch: open', at(2));
    print('submitted 2 | kill switch: open', at(3));
    print('submitted 2 | kill switch: HALTED', at(4));
    print('submitted 2 | kill switch: HALTED', at(5));
    expect(writes).toEqual([
      '12:00:00 submitted 1 | kill switch: open\n',
      '12:00:03 submitted 2 | kill switch: open\n',
      '12:00:04 submitted 2 | kill switch: HALTED\n',
    ]);
  });

  it('a terminal: the line is rewritten in place every time (a live display)', () => {
    const { writes, out } = sink(true);
    const print = createStatusPrinter(out);
    print('submitted 1', at(0));
    print('submitted 1', at(1));
    expect(writes).toEqual(['\r\x1b[2K12:00:00 submitted 1', '\r\x1b[2K12:00:01 submitted 1']);
  });
});
