// Types of scripts/server.mjs, for the TypeScript tests.
export interface StartedServer {
  url: string;
  port: number;
  ca: string;
  caPath: string;
  keyPem: string;
  merchantId: string;
  key: string;
  secret: string;
  dataDir: string;
  stop(): Promise<void>;
}
export function paygateBinary(): string;
export function startServer(env?: Record<string, string>): Promise<StartedServer>;
