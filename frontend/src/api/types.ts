/** Shapes of the gateway's answers (docs/api.md). Those the gateway defines come from its OpenAPI
 * document: `schema.ts` is generated from it (`make api-types`, scripts/api_types.sh) and a unit test
 * fails when the two drift. Written here: what the page sends, and the model card and provenance, which
 * the gateway passes through from the archive as `training export` wrote them. */
import type { components } from "./schema";

type Schemas = components["schemas"];

export type Ranked = Schemas["Ranked"];
export type Classification = Schemas["Classification"];
/** What a share link shows (`GET /shares/{id}`): the answer as its sharer saw it, without the image's
 * hash, until the cached answer it copies expires. */
export type SharedAnswer = Schemas["SharedAnswer"];
/** A verdict, as a classification and a share link both give it. */
export type Answer = Pick<Classification, "label" | "name" | "confidence" | "top_k" | "model">;
export type ShareCreated = Schemas["ShareCreated"];
export type FeedbackRecord = Schemas["FeedbackRecord"];
export type FeedbackVerdict = FeedbackRecord["verdict"];
/** One file's refusal inside a batch's answer: the one error shape, in that file's place. */
export type Refusal = Schemas["ErrorBody"];
export type BatchAnswer = Schemas["BatchAnswer"];
export type Explanation = Schemas["Explanation"];
export type Canary = Schemas["CanaryView"];

/** What the page sends with the screenshot: the verdict, the game it really is (for "wrong"), and
 * whether the visitor agreed to let the service keep the screenshot. */
export interface FeedbackVote {
  verdict: FeedbackVerdict;
  label: string | null;
  share: boolean;
}

/** `GET /models`, with the card and provenance read as `training export` writes them. */
export type ModelsView = Omit<Schemas["ModelsView"], "provenance" | "model_card"> & {
  provenance: Provenance;
  model_card?: ModelCard | null;
};

export interface CardFigures {
  accuracy: number;
  macro_f1: number;
  not_recognised_rate: number;
  named_correctly: number;
}

/** What `training.model_card` writes: every figure from the run's own reports. */
export interface ModelCard {
  name: string;
  version: string;
  arch: string;
  form: string | null;
  intended_use: string;
  data: { kind: string | null; source: string | null; images: number | null; synthetic_images: number | null };
  test: {
    images: number;
    accuracy: number;
    macro_f1: number;
    per_class: Record<string, { name: string; precision: number; recall: number; f1: number; support: number }>;
  };
  calibration: { temperature: number; ece_before: number; ece_after: number };
  unknown: { threshold: number; coverage: number; accuracy_above: number };
  external: (CardFigures & { set: string; images: number; borders: { cut: number; figures: Record<string, CardFigures> } | null }) | null;
  limitations: string[];
}

/** What the served model learned from (written by `python -m training export`; absent fields are null). */
export interface Provenance {
  run?: string;
  data_root?: string | null;
  /** "synthetic": every training image came from `training synthesize`; "mixed": some did; "real": none. */
  data_kind?: "synthetic" | "mixed" | "real" | null;
  images?: number | null;
  synthetic_images?: number | null;
  epochs?: number | null;
  test_accuracy?: number | null;
  test_macro_f1?: number | null;
  exported?: string;
}
