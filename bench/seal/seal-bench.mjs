// Baseline for `ftwin bench crypto --compare-seal`: Microsoft SEAL's BFV at N = 8192 with its default
// 128-bit coefficient modulus, compiled to WebAssembly (node-seal). Prints one JSON object.
import SEAL from 'node-seal/throws_wasm_node_umd.js'

const seal = await SEAL()
const n = 8192
const security = seal.SecurityLevel.tc128
const parms = seal.EncryptionParameters(seal.SchemeType.bfv)
parms.setPolyModulusDegree(n)
parms.setCoeffModulus(seal.CoeffModulus.BFVDefault(n, security))
parms.setPlainModulus(seal.PlainModulus.Batching(n, 20))
const context = seal.Context(parms, true, security)
if (!context.parametersSet()) throw new Error('SEAL rejected the parameters')

const keys = seal.KeyGenerator(context)
const publicKey = keys.createPublicKey()
const encoder = seal.BatchEncoder(context)
const encryptor = seal.Encryptor(context, publicKey)
const decryptor = seal.Decryptor(context, keys.secretKey())
const evaluator = seal.Evaluator(context)
const plain = encoder.encode(Int32Array.from({ length: n }, (_, i) => (i * 7919) % 1000))
const ct = seal.CipherText()
const other = seal.CipherText()
const out = seal.PlainText()

function time(runs, fn) {
  for (let i = 0; i < Math.min(10, runs); i++) fn()
  const start = process.hrtime.bigint()
  for (let i = 0; i < runs; i++) fn()
  return Number(process.hrtime.bigint() - start) / 1e6 / runs
}

const encryptMs = time(100, () => encryptor.encrypt(plain, ct))
encryptor.encrypt(plain, other)
const addMs = time(200, () => evaluator.add(ct, other, ct))
const decryptMs = time(100, () => decryptor.decrypt(ct, out))
const bytes = Buffer.from(ct.save(seal.ComprModeType.none), 'base64').length
const logQ = Array.from(seal.CoeffModulus.BFVDefault(n, security).toArray(), Number).reduce((s, q) => s + Math.log2(q), 0)

console.log(JSON.stringify({
  library: `Microsoft SEAL 4.1.2 BFV, WebAssembly (node-seal ${seal.Version})`,
  seal_version: "4.1.2",
  node_seal_version: String(seal.Version),
  ring_degree: n,
  log2_q: Math.round(logQ * 10) / 10,
  encrypt_ms: Math.round(encryptMs * 1000) / 1000,
  add_ms: Math.round(addMs * 1000) / 1000,
  decrypt_ms: Math.round(decryptMs * 1000) / 1000,
  ciphertext_bytes: bytes,
}))
