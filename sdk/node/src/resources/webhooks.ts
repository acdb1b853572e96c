// Webhook endpoints (with secret rotation and deliveries), events (with
// redelivery) and realtime socket tokens.

import type { RequestOptions } from "../core.js";
import type { ListParams, Page, PageIterator } from "../pagination.js";
import type * as T from "../types.js";
import { id, Resource } from "./base.js";

export class WebhookEndpoints extends Resource {
  /** `POST /v1/webhook-endpoints`: the answer carries the whole secret, this once. */
  create(params: T.CreateWebhookEndpoint, options?: RequestOptions): Promise<T.WebhookEndpoint> {
    return this.post("/v1/webhook-endpoints", params, options);
  }

  /** `GET /v1/webhook-endpoints/{id}` (secret masked). */
  retrieve(endpointId: string): Promise<T.WebhookEndpoint> {
    return this.get(`/v1/webhook-endpoints/${id(endpointId)}`);
  }

  /** `GET /v1/webhook-endpoints` (secrets masked). */
  list(params?: ListParams): PageIterator<T.WebhookEndpoint> {
    return this.paginate("/v1/webhook-endpoints", params);
  }

  /** `DELETE /v1/webhook-endpoints/{id}`. */
  del(endpointId: string, options?: RequestOptions): Promise<T.Deleted> {
    return this.send("DELETE", `/v1/webhook-endpoints/${id(endpointId)}`, undefined, options);
  }

  /** `POST /v1/webhook-endpoints/{id}/secret/rotate` (needs the API secret): the new secret, once; the old one keeps signing beside it for 24 h. */
  rotateSecret(endpointId: string, options?: RequestOptions): Promise<T.WebhookEndpoint> {
    return this.post(`/v1/webhook-endpoints/${id(endpointId)}/secret/rotate`, undefined, options);
  }

  /** `GET /v1/webhook-endpoints/{id}/deliveries`: each delivery and its attempts. */
  listDeliveries(endpointId: string, params?: ListParams): PageIterator<T.Delivery> {
    return this.paginate(`/v1/webhook-endpoints/${id(endpointId)}/deliveries`, params);
  }
}

export class Events extends Resource {
  /** `GET /v1/events/{id}`. */
  retrieve(eventId: string): Promise<T.Event> {
    return this.get(`/v1/events/${id(eventId)}`);
  }

  /** `GET /v1/events`. */
  list(params?: ListParams): PageIterator<T.Event> {
    return this.paginate("/v1/events", params);
  }

  /** `POST /v1/events/{id}/redeliver`: to one endpoint, or to every subscribed one. */
  redeliver(eventId: string, params: T.Redeliver = {}, options?: RequestOptions): Promise<Page<T.Delivery>> {
    return this.post(`/v1/events/${id(eventId)}/redeliver`, params, options);
  }
}

export class RealtimeTokens extends Resource {
  /** `POST /v1/realtime/tokens`: a single-use socket token, valid 60 s. */
  create(params: T.CreateRealtimeToken = {}, options?: RequestOptions): Promise<T.RealtimeToken> {
    return this.post("/v1/realtime/tokens", params, options);
  }
}
