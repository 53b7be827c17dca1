import type { Readable } from "node:stream";

/** The HTTP status of an S3 client error, when the store answered. */
export function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

/** An object's whole body; a read that breaks off is the store's failure, `unavailable`'s error. */
export async function readBody(stream: Readable, unavailable: (error: unknown) => Error): Promise<Buffer> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  } catch (error) {
    throw unavailable(error);
  }
  return Buffer.concat(chunks);
}
