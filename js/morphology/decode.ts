// Decoding of the morphology panel's geometry message: typed-array buffers described by
// meta.buffers (name, dtype, shape, index), positions quantized to uint16 in a bounding box
// (xyz = q * scale + offset). Synapse ids arrive as uint64 (BigUint64Array): exact.

export interface BufferSpec {
  name: string;
  dtype: string;
  shape: number[];
  index: number;
}

export interface Box {
  offset: [number, number, number];
  scale: [number, number, number];
}

export interface GeometryMeta {
  empty: boolean;
  data_version: number;
  title?: string;
  buffers: BufferSpec[];
  bytes?: number;
  mesh?: Box & { vertices: number; triangles: number; full_triangles: number };
  skeleton?: Box & {
    nodes: number;
    compartments: string[];
    columns: { name: string; min: number; max: number }[];
    soma_node: number;
    soma_radius: number;
  };
  synapses?: Box & { count: number; inputs: number; outputs: number; size_min: number; size_max: number };
}

export interface MeshData {
  positions: Float32Array; // nm
  index: Uint16Array | Uint32Array;
}

export interface SkeletonData {
  positions: Float32Array; // nm, per node
  parents: Int32Array; // -1 at the root
  compartment: Uint8Array;
  columns: Map<string, Float32Array>;
}

export interface SynapseData {
  positions: Float32Array; // nm
  ids: BigUint64Array;
  output: Uint8Array; // 1 output, 0 input
  size: Float32Array; // NaN where unknown
}

export interface Decoded {
  meta: GeometryMeta;
  mesh?: MeshData;
  skeleton?: SkeletonData;
  synapses?: SynapseData;
}

type Ctor = { new (buffer: ArrayBuffer, byteOffset: number, length: number): ArrayBufferView; BYTES_PER_ELEMENT: number };

const TYPES: Record<string, Ctor> = {
  uint8: Uint8Array as unknown as Ctor,
  uint16: Uint16Array as unknown as Ctor,
  uint32: Uint32Array as unknown as Ctor,
  int32: Int32Array as unknown as Ctor,
  float32: Float32Array as unknown as Ctor,
  float64: Float64Array as unknown as Ctor,
  uint64: BigUint64Array as unknown as Ctor,
  int64: BigInt64Array as unknown as Ctor,
};

/** A typed array over one buffer (copied when its offset is not aligned for the element size). */
export function typedArray(view: DataView | ArrayBuffer, spec: BufferSpec): ArrayBufferView {
  const Type = TYPES[spec.dtype];
  if (!Type) throw new TypeError(`unsupported dtype ${spec.dtype} for ${spec.name}`);
  const dv = view instanceof DataView ? view : new DataView(view);
  const count = spec.shape.reduce((a, b) => a * b, 1);
  if (dv.byteLength !== count * Type.BYTES_PER_ELEMENT)
    throw new RangeError(`${spec.name}: ${dv.byteLength} bytes for ${count} × ${spec.dtype}`);
  if (dv.byteOffset % Type.BYTES_PER_ELEMENT === 0) return new Type(dv.buffer as ArrayBuffer, dv.byteOffset, count);
  const copy = new Uint8Array(dv.buffer, dv.byteOffset, dv.byteLength).slice();
  return new Type(copy.buffer, 0, count);
}

/** uint16 (n, 3) positions back to nm as float32. */
export function dequantize(q: Uint16Array, box: Box): Float32Array {
  const out = new Float32Array(q.length);
  const [ox, oy, oz] = box.offset;
  const [sx, sy, sz] = box.scale;
  for (let i = 0; i < q.length; i += 3) {
    out[i] = q[i] * sx + ox;
    out[i + 1] = q[i + 1] * sy + oy;
    out[i + 2] = q[i + 2] * sz + oz;
  }
  return out;
}

/** Decode a geometry reply (meta + buffers) into arrays ready for three.js. */
export function decodeGeometry(meta: GeometryMeta, buffers: (DataView | ArrayBuffer)[]): Decoded {
  const arrays = new Map<string, ArrayBufferView>();
  for (const spec of meta.buffers ?? []) {
    const buf = buffers[spec.index];
    if (buf === undefined) throw new RangeError(`missing buffer ${spec.index} (${spec.name})`);
    arrays.set(spec.name, typedArray(buf, spec));
  }
  const get = <T>(name: string): T => {
    const a = arrays.get(name);
    if (!a) throw new Error(`geometry message lacks ${name}`);
    return a as unknown as T;
  };
  const out: Decoded = { meta };
  if (meta.mesh) {
    out.mesh = {
      positions: dequantize(get<Uint16Array>("mesh.positions"), meta.mesh),
      index: get<Uint16Array | Uint32Array>("mesh.faces"),
    };
  }
  if (meta.skeleton) {
    const columns = new Map<string, Float32Array>();
    for (const c of meta.skeleton.columns) columns.set(c.name, get<Float32Array>(`skeleton.column.${c.name}`));
    out.skeleton = {
      positions: dequantize(get<Uint16Array>("skeleton.positions"), meta.skeleton),
      parents: get<Int32Array>("skeleton.parents"),
      compartment: get<Uint8Array>("skeleton.compartment"),
      columns,
    };
  }
  if (meta.synapses) {
    out.synapses = {
      positions: dequantize(get<Uint16Array>("synapses.positions"), meta.synapses),
      ids: get<BigUint64Array>("synapses.ids"),
      output: get<Uint8Array>("synapses.output"),
      size: get<Float32Array>("synapses.size"),
    };
  }
  return out;
}

/** Segment endpoints (child, parent) of a skeleton, as node indices. */
export function skeletonSegments(parents: Int32Array): Uint32Array {
  let n = 0;
  for (let i = 0; i < parents.length; i++) if (parents[i] >= 0) n++;
  const out = new Uint32Array(n * 2);
  let k = 0;
  for (let i = 0; i < parents.length; i++) {
    if (parents[i] < 0) continue;
    out[k++] = i;
    out[k++] = parents[i];
  }
  return out;
}
