// Test support: real servers (scripts/server.mjs), clients that trust them,
// and a TLS-terminating recording proxy that can change what passes through
// it (drop an answer, alter a body) to show what the SDK does about it.

import { createServer as createHttpsServer, request as httpsRequest, type Server } from "node:https";
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

import { type StartedServer, startServer as start } from "../scripts/server.mjs";
import { Paygate, type PaygateOptions } from "../src/index.js";

export type TestServer = StartedServer;

export const startServer = start;

/** A client of `server` (or of a proxy in front of it, `baseUrl`). */
export function client(server: TestServer, options: Partial<PaygateOptions> = {}): Paygate {
  return new Paygate({
    apiKey: server.key,
    apiSecret: server.secret,
    merchantId: server.merchantId,
    baseUrl: server.url,
    ca: server.ca,
    ...options,
  });
}

export interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  status?: number;
  responseHeaders?: IncomingHttpHeaders;
  dropped?: boolean;
}

export interface ProxyRules {
  /** Forward the request, then close the connection instead of answering. */
  dropAnswer?: (seen: Seen) => boolean;
  /** Never answer (the request is not forwarded). */
  stall?: (seen: Seen) => boolean;
  /** Answer in the server's place (the request is not forwarded). */
  answer?: (seen: Seen) => { status: number; headers?: Record<string, string>; body: string } | undefined;
  /** Replace the request body on its way (the signature stays as sent). */
  rewriteBody?: (seen: Seen) => Buffer | undefined;
}

/** A TLS proxy on localhost with the server's own certificate, recording every exchange. */
export class RecordingProxy {
  readonly seen: Seen[] = [];
  rules: ProxyRules = {};
  readonly #server: Server;
  readonly #target: TestServer;

  private constructor(target: TestServer) {
    this.#target = target;
    this.#server = createHttpsServer({ key: target.keyPem, cert: target.ca }, (req, res) => this.#handle(req, res));
  }

  static async start(target: TestServer): Promise<RecordingProxy> {
    const proxy = new RecordingProxy(target);
    await new Promise<void>((resolve) => proxy.#server.listen(0, "127.0.0.1", resolve));
    return proxy;
  }

  get url(): string {
    return `https://localhost:${(this.#server.address() as AddressInfo).port}`;
  }

  /** The exchanges whose method and path (query left out) match. */
  calls(method: string, path: string): Seen[] {
    return this.seen.filter((s) => s.method === method && s.url.split("?")[0] === path);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const seen: Seen = { method: req.method ?? "", url: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks) };
    this.seen.push(seen);
    if (this.rules.stall?.(seen)) return;
    const canned = this.rules.answer?.(seen);
    if (canned) {
      seen.status = canned.status;
      res.writeHead(canned.status, canned.headers ?? {}).end(canned.body);
      return;
    }
    const body = this.rules.rewriteBody?.(seen) ?? seen.body;
    const headers = { ...req.headers, "content-length": String(body.length), host: `localhost:${this.#target.port}` };
    const upstream = httpsRequest(
      { hostname: "127.0.0.1", servername: "localhost", port: this.#target.port, method: req.method, path: req.url, headers, ca: this.#target.ca },
      async (answer) => {
        const parts: Buffer[] = [];
        for await (const part of answer) parts.push(part as Buffer);
        seen.status = answer.statusCode;
        seen.responseHeaders = answer.headers;
        if (this.rules.dropAnswer?.(seen)) {
          seen.dropped = true;
          req.socket.destroy();
          return;
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        res.end(Buffer.concat(parts));
      },
    );
    upstream.on("error", () => res.destroy());
    upstream.end(body);
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise((resolve) => this.#server.close(resolve));
  }
}

/** Polls `check` until it returns a value (not undefined), for at most `ms`. */
export async function eventually<T>(check: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

export const CARD_OK = { number: "4242424242424242", exp_month: 12, exp_year: 2030, cvc: "123" };
export const IBAN = { type: "bank" as const, iban: "GB82WEST12345698765432", name: "Ada Lovelace" };
