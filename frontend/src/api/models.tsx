/** The gateway's models view (`GET /api/v1/models`), fetched once when the page loads and shared: the
 * first-visit notice, the "Not recognised" cards and the about panel all read this one answer. */
import { createContext, useContext, useEffect, useState, type ReactNode } from "react";
import { models } from "./client";
import { ApiError, asApiError, type ApiErrorKind } from "./errors";
import type { ModelsView } from "./types";

export interface ModelsState {
  view: ModelsView | null;
  error: ApiError | null;
}

export const ModelsContext = createContext<ModelsState>({ view: null, error: null });

/** A page opened while the stack is still warming up gets its answer once the model is ready. */
const TRANSIENT: ReadonlySet<ApiErrorKind> = new Set(["unavailable", "timeout", "network", "rate_limited"]);

export function ModelsProvider({ children, retrySeconds = 5 }: { children: ReactNode; retrySeconds?: number }) {
  const [state, setState] = useState<ModelsState>({ view: null, error: null });
  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = () =>
      models().then(
        (view) => live && setState({ view, error: null }),
        (reason: unknown) => {
          if (!live) return;
          const error = asApiError(reason);
          setState({ view: null, error });
          if (TRANSIENT.has(error.kind)) timer = setTimeout(load, 1000 * (error.retryAfter ?? retrySeconds));
        },
      );
    load();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [retrySeconds]);
  return <ModelsContext.Provider value={state}>{children}</ModelsContext.Provider>;
}

export function useModels(): ModelsState {
  return useContext(ModelsContext);
}

/** Whether the served model never saw a real screenshot (every training image was a synthetic frame). */
export function trainedOnSynthetic(view: ModelsView | null): boolean {
  return view?.provenance?.data_kind === "synthetic";
}
