/** A `multipart/form-data` body with one field `file`, streamed so the caller can follow how much was sent. */
export interface MultipartBody {
  contentType: string;
  contentLength: number;
  body: ReadableStream<Uint8Array>;
}

/**
 * Streams `file` as the multipart field `file`, calling `onProgress` with the
 * file bytes handed to the connection so far. The body is pulled, so progress
 * follows what the connection takes, not what was read from disk.
 */
export function multipartBody(file: Blob, filename: string, onProgress: (sent: number, total: number) => void): MultipartBody {
  const boundary = `----code-interpreter-${crypto.randomUUID()}`;
  const encoder = new TextEncoder();
  const head = encoder.encode(
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${escapeFilename(filename)}"\r\n` +
      "Content-Type: application/octet-stream\r\n\r\n",
  );
  const tail = encoder.encode(`\r\n--${boundary}--\r\n`);
  const total = file.size;
  let sent = 0;
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(head);
      onProgress(0, total);
    },
    async pull(controller) {
      reader ??= file.stream().getReader();
      const { done, value } = await reader.read();
      if (done) {
        controller.enqueue(tail);
        controller.close();
        return;
      }
      controller.enqueue(value);
      sent += value.byteLength;
      onProgress(sent, total);
    },
    async cancel(reason) {
      await reader?.cancel(reason);
    },
  });
  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    contentLength: head.byteLength + total + tail.byteLength,
    body,
  };
}

/** Quotes and line breaks escaped the way browsers do in form-data file names. */
function escapeFilename(name: string): string {
  return name.replace(/\r/g, "%0D").replace(/\n/g, "%0A").replace(/"/g, "%22");
}
