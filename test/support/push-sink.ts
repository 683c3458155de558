import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An HTTP endpoint for a push subscription of the Pub/Sub emulator: it decodes each pushed
 * message's data as JSON, hands it to `onMessage`, and acknowledges (204). Tests use it to see
 * what a topic actually received.
 */
export async function startPushSink(onMessage: (message: unknown) => void): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      // A CloudEvent (structured mode) or a plain Pub/Sub push body.
      const data = body.data?.message?.data ?? body.message?.data;
      onMessage(JSON.parse(Buffer.from(data, 'base64').toString('utf8')));
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
