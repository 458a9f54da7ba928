/** The one module that talks to the gateway: relative /api/v1 URLs, typed errors. */

import axios, { AxiosError, type AxiosInstance, type AxiosProgressEvent } from "axios";
import { toApiError } from "./errors";
import type { Classification, Explanation, ModelsView } from "./types";

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

export async function explain(file: File, client: AxiosInstance = api): Promise<Explanation> {
  return (await client.post<Explanation>("/explain", form(file))).data;
}

export async function models(client: AxiosInstance = api): Promise<ModelsView> {
  return (await client.get<ModelsView>("/models")).data;
}
