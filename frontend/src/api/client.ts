/** The one module that talks to the gateway: relative /api/v1 URLs, typed errors. */

import axios, { AxiosError, type AxiosInstance, type AxiosProgressEvent } from "axios";
import { toApiError } from "./errors";
import type {
  BatchAnswer,
  Classification,
  Explanation,
  FeedbackRecord,
  FeedbackVote,
  ModelsView,
  ShareCreated,
  SharedAnswer,
} from "./types";

export function createClient(baseURL = "/api/v1"): AxiosInstance {
  const client = axios.create({ baseURL, timeout: 60_000 });
  client.interceptors.response.use(
    (response) => response,
    (error: AxiosError) => {
      const response = error.response;
      const headers = Object.fromEntries(
        Object.entries(response?.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v == null ? undefined : String(v)]),
      );
      return Promise.reject(toApiError(response ? response.status : null, response?.data ?? null, headers));
    },
  );
  return client;
}

const api = createClient();

function form(file: File): FormData {
  const data = new FormData();
  data.append("file", file);
  return data;
}

export async function classify(
  file: File,
  topK = 3,
  onProgress?: (fraction: number) => void,
  client: AxiosInstance = api,
): Promise<Classification> {
  const response = await client.post<Classification>("/classify", form(file), {
    params: { top_k: topK },
    onUploadProgress: (event: AxiosProgressEvent) => onProgress?.(event.total ? event.loaded / event.total : 0),
  });
  return response.data;
}

/** Several files in one request (`POST /classify/batch`), their count declared so that the rate
 * limiter admits or refuses the whole batch before the upload. */
export async function classifyBatch(
  files: File[],
  topK = 3,
  onProgress?: (fraction: number) => void,
  client: AxiosInstance = api,
): Promise<BatchAnswer> {
  const data = new FormData();
  files.forEach((file) => data.append("files", file));
  const response = await client.post<BatchAnswer>("/classify/batch", data, {
    params: { top_k: topK, count: files.length },
    onUploadProgress: (event: AxiosProgressEvent) => onProgress?.(event.total ? event.loaded / event.total : 0),
  });
  return response.data;
}

/** A share link to a file's answer (`POST /shares`), its top `topK` games. The file goes again: only
 * whoever holds an image may share its answer, never someone who knows its hash. The gateway copies the
 * answer it has cached under a new unguessable id. */
export async function createShare(file: File, topK = 3, client: AxiosInstance = api): Promise<ShareCreated> {
  return (await client.post<ShareCreated>("/shares", form(file), { params: { top_k: topK } })).data;
}

/** A share link's answer (`GET /shares/{id}`). */
export async function sharedAnswer(id: string, client: AxiosInstance = api): Promise<SharedAnswer> {
  return (await client.get<SharedAnswer>(`/shares/${id}`)).data;
}

/** A vote on a screenshot's answer (`POST /feedback`). The file goes with it, always: the gateway takes
 * no hash alone (a hash would tell whether someone classified the image). It is kept only when `share`
 * is true; a second vote on the same image replaces the first (`updated`). */
export async function sendFeedback(
  file: File,
  sha256: string,
  vote: FeedbackVote,
  client: AxiosInstance = api,
): Promise<FeedbackRecord> {
  const data = new FormData();
  data.append("sha256", sha256);
  data.append("verdict", vote.verdict);
  if (vote.label) data.append("label", vote.label);
  data.append("share", vote.share ? "true" : "false");
  data.append("file", file);
  return (await client.post<{ feedback: FeedbackRecord }>("/feedback", data)).data.feedback;
}

export async function explain(file: File, client: AxiosInstance = api): Promise<Explanation> {
  return (await client.post<Explanation>("/explain", form(file))).data;
}

export async function models(client: AxiosInstance = api): Promise<ModelsView> {
  return (await client.get<ModelsView>("/models")).data;
}
