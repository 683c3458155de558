/**
 * The benchmark's baseline: `concurrency` workers POSTing orders straight to the simulator,
 * no Pub/Sub, no Firestore, no safety layer — what the broker latency alone allows on this
 * machine. Orders go round robin over `symbols` (default AAPL), as the benchmark's intents do.
 * Returns orders per second.
 */
export async function bareLoopThroughput(o: { simUrl: string; keyId: string; secretKey: string; concurrency: number; orders: number; tag: string; symbols?: string[] }): Promise<number> {
  let next = 0;
  const symbols = o.symbols?.length ? o.symbols : ['AAPL'];
  const started = performance.now();
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= o.orders) return;
      const res = await fetch(`${o.simUrl}/v2/orders`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'APCA-API-KEY-ID': o.keyId, 'APCA-API-SECRET-KEY': o.secretKey },
        body: JSON.stringify({ symbol: symbols[i % symbols.length], qty: '1', side: 'buy', type: 'market', time_in_force: 'day', client_order_id: `bare-${o.tag}-${i}` }),
      });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`bare loop: simulator answered ${res.status}`);
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  return o.orders / ((performance.now() - started) / 1000);
}
