import { describe, expect, it } from "vitest";
import { formatCell, formatNumber } from "../table/format";

describe("cell formatting", () => {
  it("prints ids exactly and positions compactly", () => {
    expect(formatCell(864691135808684573n, "uint")).toBe("864691135808684573");
    expect(formatCell([1n, 2n, 3n], "position")).toBe("1, 2, 3");
    expect(formatCell(new Float64Array([1.5, 2, 3]), "position")).toBe("1.5, 2, 3");
    expect(formatCell([1, NaN, 3], "position")).toBeNull();
  });

  it("marks missing values and prints numbers readably", () => {
    expect(formatCell(null, "float")).toBeNull();
    expect(formatCell(NaN, "float")).toBeNull();
    expect(formatNumber(0.1 + 0.2)).toBe("0.3");
    expect(formatNumber(1234567)).toBe("1234567");
    expect(formatNumber(1.23456789e-7)).toBe("1.2346e-7");
    expect(formatCell(true, "bool")).toBe("true");
    expect(formatCell(Date.UTC(2024, 0, 2, 3, 4, 5), "datetime")).toBe("2024-01-02 03:04:05");
  });
});
