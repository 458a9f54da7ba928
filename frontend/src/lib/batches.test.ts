import { beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../api/errors";
import type { Classification } from "../api/types";
import { planBatches, submitAll } from "./batches";

vi.mock("../api/client", () => ({ classify: vi.fn(), classifyBatch: vi.fn() }));
const client = await import("../api/client");
const classify = vi.mocked(client.classify);
const classifyBatch = vi.mocked(client.classifyBatch);

const file = (size: number, name = `${size}.jpg`) => new File([new Uint8Array(size)], name, { type: "image/jpeg" });
const answer = (sha256: string) => ({ sha256, label: "sekiro" }) as Classification;

beforeEach(() => {
  classify.mockReset();
  classifyBatch.mockReset();
});

describe("batches", () => {
  it("hold at most the gateway's files and bytes, in the order dropped", () => {
    const files = [100, 200, 300, 400, 500].map((size) => file(size));
    const planned = planBatches(files, { files: 2, bytes: 700 + 2 * 512 });
    expect(planned.map((batch) => batch.map((f) => f.size))).toEqual([[100, 200], [300, 400], [500]]);
    expect(planBatches(Array.from({ length: 40 }, () => file(1)), { files: 16, bytes: 1e9 }).map((b) => b.length)).toEqual([16, 16, 8]);
  });

  it("go in one request each, a lone file to /classify, each file with its own answer or refusal", async () => {
    const refusal = { error: { code: "unsupported_media_type", message: "not an image", request_id: "id-2" } };
    classifyBatch.mockResolvedValue({ results: [answer("a"), refusal] });
    classify.mockResolvedValue(answer("c"));
    const files = [file(10, "a"), file(10, "b"), file(10, "c")];
    const submits = submitAll(files, { files: 2, bytes: 1e9 });
    expect(classifyBatch).toHaveBeenCalledTimes(1); // started before any card asks
    expect(classify).toHaveBeenCalledTimes(1);
    const progress = vi.fn();
    expect(await submits[0](progress)).toEqual(answer("a"));
    const refused = await submits[1](progress).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ApiError);
    expect([(refused as ApiError).kind, (refused as ApiError).requestId]).toEqual(["unsupported", "id-2"]);
    expect(await submits[2](progress)).toEqual(answer("c"));
  });

  it("share their upload's progress with every card of the batch", async () => {
    let report: (fraction: number) => void = () => undefined;
    classifyBatch.mockImplementation((_files, _topK, onProgress) => {
      report = onProgress ?? report;
      return new Promise(() => undefined);
    });
    const [first, second] = submitAll([file(1), file(2)], { files: 16, bytes: 1e9 });
    const seen = [vi.fn(), vi.fn()];
    void first(seen[0]);
    void second(seen[1]);
    report(0.5);
    expect(seen.map((listener) => listener.mock.calls)).toEqual([[[0.5]], [[0.5]]]);
  });
});
