// Arrow IPC decoding shared by every widget (flechette: small and fast). 64-bit integers come
// out as BigInt so uint64 ids stay exact.
import { tableFromIPC, type Table } from "@uwdata/flechette";

export function decodeArrow(buffer: DataView | ArrayBuffer | Uint8Array): Table {
  const bytes =
    buffer instanceof Uint8Array
      ? buffer
      : buffer instanceof DataView
        ? new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)
        : new Uint8Array(buffer);
  return tableFromIPC(bytes, { useBigInt: true });
}

export type { Table };
