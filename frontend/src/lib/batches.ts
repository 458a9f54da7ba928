/** Dropped files sent together: cut into batches the gateway takes (its limits from the models view),
 * each batch one request to `/classify/batch`; a lone file goes to `/classify` as before. Every file
 * gets its own pending answer (a file the gateway refuses alone fails alone) and the upload progress
 * of the request it travels in. The requests start at once, before any card has mounted. */
import { classify, classifyBatch } from "../api/client";
import { refusalError } from "../api/errors";
import type { Classification, ModelsView, Refusal } from "../api/types";

export interface Limits {
  files: number;
  bytes: number;
}

/** While the models view is not known yet: the gateway's defaults (BATCH_MAX_FILES, 4 x 5 MiB). */
export const DEFAULT_LIMITS: Limits = { files: 16, bytes: 4 * 5 * 1024 * 1024 };
const PART_BYTES = 512; // a multipart part's boundary and headers, its file name included

export function limitsOf(view: ModelsView | null): Limits {
  return view?.batch_max_files ? { files: view.batch_max_files, bytes: view.batch_max_bytes } : DEFAULT_LIMITS;
}

/** `files` in order, cut into batches of at most `limits.files` files and `limits.bytes` of body. */
export function planBatches(files: File[], limits: Limits): File[][] {
  const batches: File[][] = [];
  let size = 0;
  for (const file of files) {
    const weight = file.size + PART_BYTES;
    const last = batches[batches.length - 1];
    if (!last || last.length >= limits.files || size + weight > limits.bytes) {
      batches.push([file]);
      size = weight;
    } else {
      last.push(file);
      size += weight;
    }
  }
  return batches;
}

/** One file's answer, following the upload progress of its request. */
export type Submit = (onProgress: (fraction: number) => void) => Promise<Classification>;

type Send<T> = (onProgress: (fraction: number) => void) => Promise<T>;

/** `send` started now; its progress goes to every listener added later. */
function started<T>(send: Send<T>) {
  const listeners = new Set<(fraction: number) => void>();
  const answer = send((fraction) => listeners.forEach((listener) => listener(fraction)));
  answer.catch(() => undefined); // each file's card reports the failure
  return { answer, listen: (listener: (fraction: number) => void) => listeners.add(listener) };
}

function answerOf(result: Classification | Refusal): Classification {
  if ("error" in result) throw refusalError(result.error);
  return result;
}

/** One `Submit` per file of `files`, in order: the requests that carry them are already on their way. */
export function submitAll(files: File[], limits: Limits, topK = 3): Submit[] {
  return planBatches(files, limits).flatMap((batch) => {
    if (batch.length === 1) {
      const request = started((onProgress) => classify(batch[0], topK, onProgress));
      return [(onProgress: (fraction: number) => void) => (request.listen(onProgress), request.answer)];
    }
    const request = started((onProgress) => classifyBatch(batch, topK, onProgress));
    return batch.map((_, index) => (onProgress: (fraction: number) => void) => {
      request.listen(onProgress);
      return request.answer.then((body) => answerOf(body.results[index]));
    });
  });
}
