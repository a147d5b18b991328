/** Readable JSON for decoded DHCP messages (Buffers as hex strings): the golden expected files. */
import type { DhcpMessage } from '../codec.ts';
import { messageTypeName } from '../options.ts';

/** A decoded message as stable, readable JSON text (2-space indent, trailing newline). */
export function readableJson(msg: DhcpMessage): string {
  const view = { type: messageTypeName(msg.options.messageType), ...msg };
  return `${JSON.stringify(view, (_k, v: unknown) => (isBufferJson(v) ? `hex:${Buffer.from(v.data).toString('hex')}` : v), 2)}\n`;
}

function isBufferJson(v: unknown): v is { type: 'Buffer'; data: number[] } {
  return typeof v === 'object' && v !== null && (v as { type?: unknown }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data);
}
