import "@testing-library/jest-dom/vitest";
import { cleanup } from "@testing-library/react";
import { afterEach } from "vitest";

// Testing Library unmounts after each test by itself only when vitest globals are on.
afterEach(cleanup);

// jsdom implements neither object URLs nor canvas drawing; the components only need them to exist.
URL.createObjectURL = () => "blob:preview";
URL.revokeObjectURL = () => undefined;
HTMLCanvasElement.prototype.getContext = (() => null) as typeof HTMLCanvasElement.prototype.getContext;
