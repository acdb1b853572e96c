// Types of scripts/generate-types.mjs, for the TypeScript tests.
import type { StartedServer } from "./server.mjs";
export const GENERATED: string;
export function render(document: unknown): Promise<string>;
export function fetchDocument(server: StartedServer): Promise<unknown>;
