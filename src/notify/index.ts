/** Operator notifications: signed webhooks and log lines (see docs/webhooks.md). */
export type {
  NotifierLogger,
  NotifyEvent,
  NotifyEventType,
  SetTimer,
  WebhookNotifier,
  WebhookNotifierOptions,
  WebhookSend,
} from './webhook-notifier.ts';
export {
  createWebhookNotifier,
  DEFAULT_MAX_QUEUE,
  DEFAULT_RETRIES,
  undiciSend,
} from './webhook-notifier.ts';
export {
  DEFAULT_TOLERANCE_SEC,
  DELIVERY_HEADER,
  EVENT_HEADER,
  parseSignatureHeader,
  SIGNATURE_HEADER,
  signatureHeader,
  signWebhook,
  verifyWebhook,
} from './webhook-signature.ts';
