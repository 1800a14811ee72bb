/**
 * Listening on both loopback addresses with one http.Server. `localhost` resolves to 127.0.0.1 or ::1
 * first, depending on the system, so the companion answers on both and on nothing else. The
 * http.Server listens on 127.0.0.1 itself; a plain net.Server on ::1, same port, hands it each of its
 * connections, so every connection goes through the same handler, timeouts and shutdown.
 */
import type { Server as HttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { LOOPBACK_ADDRESSES } from './security.ts';

export interface LoopbackListener {
  port: number;
  /** Stops the ::1 listener; the http.Server's own close() stops 127.0.0.1. */
  close(): Promise<void>;
}

/** With port 0, how many free ports are tried when ::1 has the one 127.0.0.1 got taken. */
const PORT_ATTEMPTS = 5;

export async function listenOnLoopbacks(server: HttpServer, port: number, log: (message: string) => void): Promise<LoopbackListener> {
  const [ipv4, ipv6] = LOOPBACK_ADDRESSES;
  for (let attempt = 1; ; attempt++) {
    const bound = await listen(server, port, ipv4);
    const forwarder = createServer((socket) => server.emit('connection', socket));
    try {
      await listen(forwarder, bound, ipv6);
      return { port: bound, close: () => close(forwarder) };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // no IPv6 loopback here, so `localhost` cannot resolve to it either
      if (code === 'EADDRNOTAVAIL' || code === 'EAFNOSUPPORT') {
        log(`${ipv6} is not available on this machine (${code}); listening on ${ipv4} only`);
        return { port: bound, close: async () => {} };
      }
      await close(server);
      if (code === 'EADDRINUSE' && port === 0 && attempt < PORT_ATTEMPTS) continue;
      if (code === 'EADDRINUSE') throw Object.assign(new Error(`Port ${bound} is free on ${ipv4} but another program listens on [${ipv6}]:${bound}; stop it or pick another port.`), { code });
      throw error;
    }
  }
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
}
