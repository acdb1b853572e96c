// What every resource shares: the core that sends requests, object IDs
// checked before they go into a path, and list iterators.

import type { Core, Method, RequestOptions } from "../core.js";
import { PaygateConfigError } from "../errors.js";
import { listQuery, type ListParams, type Page, PageIterator } from "../pagination.js";

/**
 * An object ID checked before it goes into a path, so no argument can change
 * which route a request reaches (`../`, `?`, `#`, `%2F`).
 */
export function id(value: string): string {
  if (typeof value !== "string" || !/^[A-Za-z0-9_-]{1,128}$/.test(value)) {
    throw new PaygateConfigError(`${JSON.stringify(String(value).slice(0, 40))} is not a Paygate object ID`);
  }
  return value;
}

export abstract class Resource {
  protected readonly core: Core;

  constructor(core: Core) {
    this.core = core;
  }

  protected get<T>(path: string, options?: RequestOptions): Promise<T> {
    return this.core.json<T>("GET", path, undefined, options);
  }

  protected post<T>(path: string, body: unknown, options?: RequestOptions): Promise<T> {
    return this.core.json<T>("POST", path, body, options);
  }

  protected send<T>(method: Method, path: string, body?: unknown, options?: RequestOptions): Promise<T> {
    return this.core.json<T>(method, path, body, options);
  }

  /** A list route; `filters` are the route's own query parameters (unset ones are left out). */
  protected paginate<T>(path: string, params: ListParams = {}, filters: Record<string, string | undefined> = {}): PageIterator<T> {
    return new PageIterator<T>((cursor) => this.get<Page<T>>(`${path}${listQuery(params, cursor, filters)}`), params.cursor);
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `${this.constructor.name} {}`;
  }
}
