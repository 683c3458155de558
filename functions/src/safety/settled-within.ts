/**
 * `p`'s result if it settles within `ms` (a rejection is rethrown), else `{ settled: false }`;
 * `p` itself goes on. For store calls whose client retries for minutes when Firestore is
 * unreachable, where the caller has its own deadline to keep.
 */
export async function settledWithin<T>(p: Promise<T>, ms: number): Promise<{ settled: true; value: T } | { settled: false }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<{ settled: false }>((resolve) => {
    timer = setTimeout(() => resolve({ settled: false }), Math.max(0, ms));
  });
  try {
    return await Promise.race([p.then((value) => ({ settled: true as const, value })), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
