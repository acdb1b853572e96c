// Lists: one page at a time or every item across pages. `list()` returns a
// PageIterator that is awaitable (the first page) and async-iterable (every
// item, fetching the next page only when the previous one is used up).

export interface Page<T> {
  data: T[];
  has_more: boolean;
  next_cursor: string | null;
}

export interface ListParams {
  /** 1 to 100 (more is served as 100). */
  limit?: number;
  /** `createdAt` (default), `updatedAt`, `amount`, `status` or `confirmedAt`. */
  sortBy?: "createdAt" | "updatedAt" | "amount" | "status" | "confirmedAt";
  order?: "asc" | "desc";
  /** Start after this cursor (a `next_cursor` of an earlier page). */
  cursor?: string;
}

/** The query string of a list request, as the contract names its parameters, plus a route's own filters. */
export function listQuery(params: ListParams, cursor: string | undefined, filters: Record<string, string | undefined> = {}): string {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(filters)) {
    if (value !== undefined) query.set(name, value);
  }
  if (params.limit !== undefined) query.set("limit", String(params.limit));
  if (params.sortBy !== undefined) query.set("sortBy", params.sortBy);
  if (params.order !== undefined) query.set("order", params.order);
  if (cursor !== undefined) query.set("cursor", cursor);
  const text = query.toString();
  return text ? `?${text}` : "";
}

export class PageIterator<T> implements PromiseLike<Page<T>>, AsyncIterable<T> {
  readonly #fetch: (cursor: string | undefined) => Promise<Page<T>>;
  readonly #start: string | undefined;

  constructor(fetchPage: (cursor: string | undefined) => Promise<Page<T>>, start: string | undefined) {
    this.#fetch = fetchPage;
    this.#start = start;
  }

  /** The first page (awaiting the iterator does the same). */
  firstPage(): Promise<Page<T>> {
    return this.#fetch(this.#start);
  }

  then<R1 = Page<T>, R2 = never>(
    onFulfilled?: ((value: Page<T>) => R1 | PromiseLike<R1>) | null,
    onRejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.firstPage().then(onFulfilled, onRejected);
  }

  /** Every page in turn. */
  async *pages(): AsyncGenerator<Page<T>, void, undefined> {
    let cursor = this.#start;
    for (;;) {
      const page = await this.#fetch(cursor);
      yield page;
      if (!page.has_more || !page.next_cursor || page.next_cursor === cursor) return;
      cursor = page.next_cursor;
    }
  }

  /** Every item of every page. */
  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    for await (const page of this.pages()) yield* page.data;
  }

  /** Every item, collected (stops with an error past `max` items, 10 000 by default). */
  async toArray(max = 10_000): Promise<T[]> {
    const items: T[] = [];
    for await (const item of this) {
      if (items.length >= max) throw new RangeError(`more than ${max} items`);
      items.push(item);
    }
    return items;
  }
}
