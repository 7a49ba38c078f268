// Reading a bundle's files from a folder (Node) or a URL (browser, or Node with http/https).
import { BundleNotFoundError, ModelBundleError } from './errors.js';
import { MANIFEST_NAME, parseManifest } from './manifest.js';

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

/** Whether LOCATION is a URL (not a folder path; a Windows drive letter is a path). */
export function isUrl(location) {
  return location instanceof URL || /^[a-z][a-z0-9+.-]*:/i.test(String(location)) && !/^[a-z]:[\\/]/i.test(String(location));
}

/** The bytes of NAME in the bundle at LOCATION (a folder path, or a URL of the folder). */
export async function readBundleFile(location, name) {
  if (isUrl(location)) {
    const base = String(location).endsWith('/') ? String(location) : `${location}/`;
    const url = new URL(name, base);
    if (url.protocol === 'file:' && isNode) return readLocal((await import('node:url')).fileURLToPath(url), location, name);
    let response;
    try {
      response = await fetch(url);
    } catch (err) {
      throw new BundleNotFoundError(`cannot fetch ${url}: ${err.message}`);
    }
    if (!response.ok) {
      throw new BundleNotFoundError(`${url}: HTTP ${response.status}; is the bundle served there (phonedge web BUNDLE -o SITE)?`);
    }
    return new Uint8Array(await response.arrayBuffer());
  }
  if (!isNode) throw new ModelBundleError(`${location}: give the bundle as a URL in a browser`);
  const { join } = await import('node:path');
  return readLocal(join(String(location), name), location, name);
}

async function readLocal(path, location, name) {
  const { readFile } = await import('node:fs/promises');
  try {
    return new Uint8Array(await readFile(path));
  } catch (err) {
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') {
      const what = name === MANIFEST_NAME ? `${location} is not a phonedge bundle: ${MANIFEST_NAME} is missing`
        : `${location}: the ONNX file '${name}' named in the manifest is missing; export again`;
      throw new BundleNotFoundError(`${what} (create one with 'phonedge export')`);
    }
    throw err;
  }
}

/** The validated manifest and the ONNX file's bytes of a bundle. */
export async function readBundle(location) {
  const text = new TextDecoder().decode(await readBundleFile(location, MANIFEST_NAME));
  let data;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new ModelBundleError(`${location}/${MANIFEST_NAME}: corrupt manifest, not valid JSON (${err.message}); export again`);
  }
  const manifest = parseManifest(data, `${location}/${MANIFEST_NAME}`);
  const model = await readBundleFile(location, manifest.graph.file);
  if (manifest.graph.size_bytes && model.length !== manifest.graph.size_bytes) {
    throw new ModelBundleError(`${location}/${manifest.graph.file}: ${model.length} bytes, but the manifest says `
      + `${manifest.graph.size_bytes}: the file is truncated or was replaced after export; copy the bundle again`);
  }
  return { manifest, model };
}
