import { AxiosError, AxiosHeaders, type InternalAxiosRequestConfig } from "axios";
import { describe, expect, it } from "vitest";
import { classify, classifyBatch, createClient, createShare, models, sendFeedback, sharedAnswer } from "./client";
import { ApiError, parseRetryAfter, plainWords } from "./errors";

function clientAnswering(
  status: number | null,
  data: unknown,
  headers: Record<string, string> = {},
  sent: InternalAxiosRequestConfig[] = [],
) {
  const client = createClient("/api/v1");
  client.defaults.adapter = async (config: InternalAxiosRequestConfig) => {
    sent.push(config);
    if (status === null) throw new AxiosError("Network Error", "ERR_NETWORK", config);
    const response = { data, status, statusText: "", headers: new AxiosHeaders(headers), config };
    if (status >= 400) throw new AxiosError("failed", "ERR_BAD_RESPONSE", config, null, response);
    return response;
  };
  return client;
}

const file = new File([new Uint8Array([0xff, 0xd8, 0xff])], "shot.jpg", { type: "image/jpeg" });

async function failure(status: number | null, data: unknown, headers: Record<string, string> = {}) {
  try {
    await classify(file, 3, undefined, clientAnswering(status, data, headers));
  } catch (error) {
    return error as ApiError;
  }
  throw new Error("expected a failure");
}

describe("the API client", () => {
  it("returns the classification on success", async () => {
    const body = { label: "sekiro", name: "Sekiro", confidence: 0.9, top_k: [], cached: false };
    expect(await classify(file, 3, undefined, clientAnswering(200, body))).toEqual(body);
  });

  it.each([
    [413, "too_large", "payload_too_large"],
    [415, "unsupported", "unsupported_media_type"],
    [400, "invalid", "invalid_image"],
    [422, "invalid", "invalid_request"],
    [504, "timeout", "upstream_timeout"],
  ])("turns %i into a %s error carrying the gateway's code", async (status, kind, code) => {
    const error = await failure(status, { error: { code, message: "from the gateway" } });
    expect(error).toBeInstanceOf(ApiError);
    expect(error.kind).toBe(kind);
    expect(error.code).toBe(code);
    expect(error.message).toBe("from the gateway");
  });

  it("reads Retry-After on 429 and 503", async () => {
    const limited = await failure(429, { error: { code: "rate_limited", message: "slow down" } }, { "Retry-After": "42" });
    expect([limited.kind, limited.retryAfter]).toEqual(["rate_limited", 42]);
    const down = await failure(503, { error: { code: "model_unavailable", message: "warming" } }, { "retry-after": "5" });
    expect([down.kind, down.retryAfter]).toEqual(["unavailable", 5]);
  });

  it("carries the request's ID from the error body, or from the header when the body is not ours", async () => {
    const ours = await failure(415, { error: { code: "unsupported_media_type", message: "no", request_id: "id-from-body" } }, { "X-Request-ID": "id-from-body" });
    expect(ours.requestId).toBe("id-from-body");
    const proxy = await failure(502, "<html>bad gateway</html>", { "X-Request-ID": "id-from-header" });
    expect(proxy.requestId).toBe("id-from-header");
    expect((await failure(null, null)).requestId).toBeNull();
  });

  it("turns no answer at all into a network error", async () => {
    const error = await failure(null, null);
    expect(error.kind).toBe("network");
    expect(error.status).toBeNull();
  });

  it("copes with an error body that is not ours (an HTML 502 from a proxy)", async () => {
    const error = await failure(502, "<html>bad gateway</html>");
    expect(error.kind).toBe("unavailable");
  });

  it("gets the models view", async () => {
    const view = { models: [], labels: [], provenance: {}, unknown_threshold: 0.9, arch: "tiny", max_upload_bytes: 5242880 };
    expect(await models(clientAnswering(200, view))).toEqual(view);
  });

  it("sends a batch as field files repeated, its count declared", async () => {
    const sent: InternalAxiosRequestConfig[] = [];
    await classifyBatch([file, file], 4, undefined, clientAnswering(200, { results: [] }, {}, sent));
    const [config] = sent;
    expect(config.url).toBe("/classify/batch");
    expect(config.params).toEqual({ top_k: 4, count: 2 });
    expect((config.data as FormData).getAll("files")).toHaveLength(2);
  });

  it("makes a share link by sending the file itself, never its hash", async () => {
    const sent: InternalAxiosRequestConfig[] = [];
    const made = { id: "Qx7_b-3kLm9Zp0aTw2Yc4d", url: "/s/Qx7_b-3kLm9Zp0aTw2Yc4d", expires_at: "2026-12-07T10:00:00Z" };
    expect(await createShare(file, 2, clientAnswering(201, made, {}, sent))).toEqual(made);
    const [config] = sent;
    expect([config.method, config.url, config.params]).toEqual(["post", "/shares", { top_k: 2 }]);
    expect((config.data as FormData).get("file")).toBe(file);
  });

  it("sends feedback with the file itself, the consent as its own field, and returns the recorded vote", async () => {
    const sent: InternalAxiosRequestConfig[] = [];
    const vote = { sha256: "f".repeat(64), verdict: "wrong", label: "elden_ring", shared: true, updated: false };
    const client = clientAnswering(201, { feedback: vote }, {}, sent);
    expect(await sendFeedback(file, "f".repeat(64), { verdict: "wrong", label: "elden_ring", share: true }, client)).toEqual(vote);
    const [config] = sent;
    expect([config.method, config.url]).toEqual(["post", "/feedback"]);
    const form = config.data as FormData;
    expect([form.get("sha256"), form.get("verdict"), form.get("label"), form.get("share")]).toEqual(["f".repeat(64), "wrong", "elden_ring", "true"]);
    expect(form.get("file")).toBe(file);
    await sendFeedback(file, "f".repeat(64), { verdict: "not_a_game", label: null, share: false }, client);
    const plain = sent[1].data as FormData;
    expect([plain.has("label"), plain.get("share"), plain.get("file")]).toEqual([false, "false", file]);
  });

  it("turns 503 feedback_unavailable into its own words, classification still working", async () => {
    const client = clientAnswering(503, { error: { code: "feedback_unavailable", message: "the database failed" } }, { "Retry-After": "5" });
    const error = (await sendFeedback(file, "f".repeat(64), { verdict: "right", label: null, share: false }, client).then(
      () => null,
      (e: unknown) => e,
    )) as ApiError;
    expect([error.kind, error.code, error.retryAfter]).toEqual(["unavailable", "feedback_unavailable", 5]);
    expect(plainWords(error)).toBe("Feedback is unavailable right now; classification still works.");
  });

  it("reads a share link's answer by its id", async () => {
    const sent: InternalAxiosRequestConfig[] = [];
    const client = clientAnswering(200, { label: "sekiro" }, {}, sent);
    expect(await sharedAnswer("Qx7_b-3kLm9Zp0aTw2Yc4d", client)).toEqual({ label: "sekiro" });
    expect(sent[0].url).toBe("/shares/Qx7_b-3kLm9Zp0aTw2Yc4d");
  });

  it("parses Retry-After as seconds or an HTTP date", () => {
    expect(parseRetryAfter("7")).toBe(7);
    expect(parseRetryAfter(new Date(Date.now() + 3000).toUTCString())).toBeGreaterThanOrEqual(2);
    expect(parseRetryAfter(null)).toBeNull();
  });
});
