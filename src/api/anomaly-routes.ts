// Anomaly model routes: the model registry (src/anomaly/registry.ts) under
// /api/anomaly/models. The builtin models (statistical, iforest) are listed
// beside the user models: ONNX models uploaded here with their input schema
// (core features, in the order of the model's input columns).
//
// - Upload: JSON {name, version, inputs, onnx (base64), output (optional:
//   the output to read when the model has several)}. Checked before it
//   is stored: each input a feature of the core, the model loads in
//   onnxruntime, takes [N, inputs.length] float32 and gives one value per
//   row (SENTIO_ERR_MODEL_INVALID says which failed). Its output is the
//   score, clamped to [0, 1]; NaN is no score. The first version of a name
//   is active; a later one starts in shadow: scored beside the active one,
//   each with its own model_version label, until it is promoted.
// - Promote: the version becomes active; the active one before it becomes
//   retired (kept, not scored; promoting it again is a rollback). Shadows
//   stay shadows.
// - Delete: any version but the active one of a name that has others
//   (SENTIO_ERR_MODEL_ACTIVE: promote another first).
// - Bodies are at most 1 MiB (the API's limit): an ONNX model of up to
//   about 750 kB, as base64.
// - Writes are for operators and audited; reads for viewers. A change is
//   scored on this instance from the next round, on the others within their
//   next registry poll.

import { z } from 'zod';
import { FEATURES, builtinModels } from '../anomaly/models.js';
import { OnnxModelError, sha256 } from '../anomaly/onnx.js';
import type { ModelRegistry } from '../anomaly/registry.js';
import { SentioError } from '../errors.js';
import type { MetaStore, UserModel } from '../store/types.js';
import { route, type RouteDef } from './router.js';
import { Timestamp, list } from './schemas.js';

export interface AnomalyModelServices {
  store: Pick<MetaStore, 'listUserModels' | 'createUserModel' | 'promoteUserModel' | 'deleteUserModel'>;
  registry: ModelRegistry;
  /** The builtin models this gateway scores (--anomaly-models; none when the engine is off). */
  scored: readonly string[];
}

const Name = z.string().regex(/^[a-z][a-z0-9_-]{0,62}$/, 'lowercase letters, digits, "-" and "_", starting with a letter, at most 63');
const Version = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/, 'letters, digits, ".", "_" and "-", at most 32');
const Feature = z.enum(FEATURES as [string, ...string[]]);
const Params = z.object({ name: Name, version: Version });

const AnomalyModel = z
  .object({
    name: z.string(),
    version: z.string(),
    kind: z.enum(['builtin', 'user']).describe('builtin: shipped with the gateway (chosen with --anomaly-models); user: uploaded here.'),
    inputs: z.array(z.string()).describe('The core features the model reads, in order.'),
    role: z.enum(['active', 'shadow', 'retired']).nullable().describe('A user model version: active, shadow (scored beside the active one) or retired (not scored); null for a builtin.'),
    state: z.enum(['scored', 'failed', 'not_scored']).describe('On the instance that answers: scored each round, failed to load (see error), or not scored (retired, a builtin not configured, or the engine off).'),
    error: z.string().optional(),
    output: z.string().nullable().optional(),
    sha256: z.string().optional(),
    sizeBytes: z.number().int().optional(),
    createdAt: Timestamp.optional(),
    promotedAt: Timestamp.nullable().optional(),
  })
  .meta({ id: 'AnomalyModel' });

const NewAnomalyModel = z
  .object({
    name: Name,
    version: Version,
    inputs: z
      .array(Feature)
      .min(1)
      .max(FEATURES.length)
      .refine((v) => new Set(v).size === v.length, 'each feature at most once')
      .describe('Core features (docs/anomaly.md), in the order of the model input\'s columns.'),
    onnx: z.string().min(1).max(1_400_000).regex(/^[A-Za-z0-9+/]+={0,2}$/, 'base64').describe('The ONNX model, base64: one float32 input [N, inputs.length], one value per row out.'),
    output: z.string().min(1).max(256).optional().describe("The output that gives the score, when the model has several (skl2onnx's IsolationForest: label and scores)."),
  })
  .strict()
  .meta({ id: 'NewAnomalyModel' });

export function anomalyRoutes(s: AnomalyModelServices): RouteDef<any, any, any, any>[] {
  const st = s.store;
  const view = (m: UserModel): z.infer<typeof AnomalyModel> => {
    const state = m.role === 'retired' ? { state: 'not_scored' as const } : s.registry.state(m);
    return { ...m, kind: 'user', ...state };
  };
  const builtins = (): Array<z.infer<typeof AnomalyModel>> =>
    [...builtinModels.values()].map((m) => ({ name: m.name, version: m.version, kind: 'builtin', inputs: [...m.inputs], role: null, state: s.scored.includes(m.name) ? 'scored' : 'not_scored' }));
  const find = async (name: string, version: string): Promise<UserModel> => {
    const m = (await st.listUserModels()).find((x) => x.name === name && x.version === version);
    if (!m) throw new SentioError('SENTIO_ERR_NOT_FOUND', `no anomaly model ${name} version ${version}`);
    return m;
  };
  const tag = 'anomaly';
  return [
    route({
      method: 'get', path: '/api/anomaly/models', operationId: 'listAnomalyModels', tag, access: 'viewer',
      summary: 'The anomaly models: builtin ones and every version of the user models, with roles and whether this instance scores them.',
      response: list(AnomalyModel),
      handler: async () => ({ items: [...builtins(), ...(await st.listUserModels()).map(view)] }),
    }),
    route({
      method: 'post', path: '/api/anomaly/models', operationId: 'createAnomalyModel', tag, access: 'operator',
      summary: 'Upload an ONNX model version with its input schema: the first version of a name is active, a later one starts in shadow.',
      body: NewAnomalyModel, status: 201, response: AnomalyModel, errors: ['SENTIO_ERR_VALIDATION', 'SENTIO_ERR_MODEL_INVALID', 'SENTIO_ERR_CONFLICT'],
      async handler(ctx) {
        const b = ctx.body as z.infer<typeof NewAnomalyModel>;
        if (builtinModels.has(b.name)) throw new SentioError('SENTIO_ERR_CONFLICT', `${b.name} is a builtin model's name`);
        const bytes = new Uint8Array(Buffer.from(b.onnx, 'base64'));
        try {
          await s.registry.check({ name: b.name, version: b.version, inputs: b.inputs, bytes, output: b.output });
        } catch (err) {
          if (err instanceof OnnxModelError) throw new SentioError('SENTIO_ERR_MODEL_INVALID', err.message);
          throw err;
        }
        const m = await st.createUserModel({ name: b.name, version: b.version, inputs: b.inputs, output: b.output ?? null, onnx: bytes, sha256: sha256(bytes) });
        await ctx.audit('anomaly_model.create', `anomaly_model:${m.name}@${m.version}`, { role: m.role, inputs: m.inputs, sha256: m.sha256, sizeBytes: m.sizeBytes });
        await s.registry.reload();
        return view(m);
      },
    }),
    route({
      method: 'post', path: '/api/anomaly/models/{name}/versions/{version}/promote', operationId: 'promoteAnomalyModel', tag, access: 'operator',
      summary: 'Make this version the active one; the active one before it is retired (kept, not scored: promote it again to roll back).',
      params: Params, response: AnomalyModel, errors: ['SENTIO_ERR_NOT_FOUND'],
      async handler(ctx) {
        const before = (await st.listUserModels()).find((x) => x.name === ctx.params.name && x.role === 'active');
        const m = await st.promoteUserModel(ctx.params.name, ctx.params.version);
        if (!m) throw new SentioError('SENTIO_ERR_NOT_FOUND', `no anomaly model ${ctx.params.name} version ${ctx.params.version}`);
        await ctx.audit('anomaly_model.promote', `anomaly_model:${m.name}@${m.version}`, { retired: before && before.version !== m.version ? before.version : null });
        await s.registry.reload();
        return view(m);
      },
    }),
    route({
      method: 'delete', path: '/api/anomaly/models/{name}/versions/{version}', operationId: 'deleteAnomalyModel', tag, access: 'operator',
      summary: 'Delete a version (not the active one of a name with other versions: promote another first).',
      params: Params, status: 204, errors: ['SENTIO_ERR_NOT_FOUND', 'SENTIO_ERR_MODEL_ACTIVE'],
      async handler(ctx) {
        const { name, version } = ctx.params;
        const m = await find(name, version);
        if (m.role === 'active' && (await st.listUserModels()).some((x) => x.name === name && x.version !== version)) {
          throw new SentioError('SENTIO_ERR_MODEL_ACTIVE', `${name} ${version} is the active version of ${name}: promote another version first`);
        }
        if (!(await st.deleteUserModel(name, version))) throw new SentioError('SENTIO_ERR_NOT_FOUND', `no anomaly model ${name} version ${version}`);
        await ctx.audit('anomaly_model.delete', `anomaly_model:${name}@${version}`, { role: m.role });
        await s.registry.reload();
        return undefined;
      },
    }),
  ];
}
