/**
 * A stand-in for the Hugging Face Hub on 127.0.0.1: a real HTTP server answering what the Hub sends
 * to huggingface_hub and @huggingface/hub (their file_download.py, model-info.ts, list-files.ts):
 *
 * - GET /api/models/<owner>/<repo>/revision/<rev>: model info ({_id, id, sha, gated, private, …}).
 * - GET /api/models/<owner>/<repo>/tree/<rev>?recursive=true: file entries ({type, oid, size, path,
 *   lfs: {oid, size, pointerSize}}), `pageSize` per page with a `Link: <…>; rel="next"` header.
 * - GET|HEAD /<owner>/<repo>/resolve/<rev>/<path>: small files answered directly (ETag = git blob
 *   oid, X-Repo-Commit); LFS files redirected (302) to /cdn/<sha256> with X-Linked-Etag, X-Linked-Size,
 *   X-Repo-Commit and the pointer's ETag.
 * - GET /cdn/<sha256>: the bytes, with Range → 206 + Content-Range, past the end → 416.
 * - Gated repositories: resolve without a token → 401, with a token not granted → 403, both with
 *   X-Error-Code: GatedRepo and X-Error-Message (the info and tree stay public, as on the Hub).
 *
 * Faults for tests: `cutAfter` (the connection drops after n bytes of one file, once) and
 * `corrupt` (one byte of a file's served content flipped). Every request is recorded.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StandinFile {
  path: string;
  bytes: Uint8Array;
  /** Stored with Git LFS (checkpoints); small text files are plain git blobs. */
  lfs?: boolean;
}

export interface StandinRepo {
  id: string;
  files: StandinFile[];
  gated?: boolean;
  /** Tokens that have accepted the licence. */
  granted?: string[];
}

export interface Recorded {
  method: string;
  path: string;
  range: string | null;
  auth: string | null;
  status: number;
}

interface Stored extends StandinFile {
  sha256: string;
  gitOid: string;
}

export class HubStandin {
  readonly requests: Recorded[] = [];
  /** Tree entries per page (the Hub pages its listings; small here so paging is exercised). */
  pageSize = 2;
  /** Drop the connection after this many body bytes of the file at `path`, once. */
  cutAfter: { path: string; bytes: number } | null = null;
  /** Serve this file with one byte flipped at `at`. */
  corrupt: { path: string; at: number } | null = null;
  /** Send file bodies 64 KiB at a time with this pause between pieces (a slow link, so a pull can be stopped mid-file). */
  chunkDelayMs = 0;
  private server: Server | null = null;
  private repos = new Map<string, { repo: StandinRepo; sha: string; files: Stored[] }>();
  url = '';

  addRepo(repo: StandinRepo): void {
    const files = repo.files.map((f) => ({
      ...f,
      sha256: createHash('sha256').update(f.bytes).digest('hex'),
      gitOid: createHash('sha1').update(`blob ${f.bytes.byteLength}\0`).update(f.bytes).digest('hex'),
    }));
    const sha = createHash('sha1').update(repo.id).update(files.map((f) => f.gitOid + f.sha256).join()).digest('hex');
    this.repos.set(repo.id, { repo, sha, files });
  }

  commit(id: string): string {
    return this.repos.get(id)!.sha;
  }

  sha256(id: string, path: string): string {
    return this.repos.get(id)!.files.find((f) => f.path === path)!.sha256;
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const status = this.handle(req, res);
      this.requests.push({ method: req.method ?? '', path: decodeURIComponent((req.url ?? '').split('?')[0]), range: req.headers.range ?? null, auth: req.headers.authorization ?? null, status });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** Bytes served for a file's content (CDN GETs and direct resolves), per path. */
  downloads(path: string): Recorded[] {
    return this.requests.filter((r) => r.method === 'GET' && (r.path.endsWith(`/${path}`) || this.cdnPath(path) === r.path) && r.status !== 302);
  }

  private cdnPath(path: string): string | undefined {
    for (const { files } of this.repos.values()) {
      const f = files.find((x) => x.path === path);
      if (f?.lfs) return `/cdn/${f.sha256}`;
    }
    return undefined;
  }

  private handle(req: IncomingMessage, res: ServerResponse): number {
    const url = new URL(req.url ?? '/', this.url);
    const parts = url.pathname.split('/').slice(1).map(decodeURIComponent);
    if (parts[0] === 'api' && parts[1] === 'models') return this.api(parts.slice(2), url, res);
    if (parts[0] === 'cdn') return this.cdn(parts[1], req, res);
    if (parts[2] === 'resolve') return this.resolve(`${parts[0]}/${parts[1]}`, parts[3], parts.slice(4).join('/'), req, res);
    return this.error(res, 404, 'RepoNotFound', 'Not found');
  }

  private error(res: ServerResponse, status: number, code: string, message: string): number {
    res.writeHead(status, { 'Content-Type': 'application/json', 'X-Error-Code': code, 'X-Error-Message': message });
    res.end(JSON.stringify({ error: message }));
    return status;
  }

  private api(parts: string[], url: URL, res: ServerResponse): number {
    const entry = this.repos.get(`${parts[0]}/${parts[1]}`);
    if (!entry) return this.error(res, 401, 'RepoNotFound', 'Repository not found');
    const { repo, sha, files } = entry;
    if (parts[2] === 'revision') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ _id: sha.slice(0, 24), id: repo.id, sha, private: false, gated: repo.gated ? 'manual' : false, downloads: 0, likes: 0, lastModified: '2024-08-01T00:00:00.000Z', siblings: files.map((f) => ({ rfilename: f.path })) }));
      return 200;
    }
    if (parts[2] === 'tree') {
      if (parts[3] !== sha && parts[3] !== 'main') return this.error(res, 404, 'RevisionNotFound', 'Invalid rev id');
      const entries = files.map((f) => ({
        type: 'file',
        oid: f.gitOid,
        size: f.lfs ? 134 : f.bytes.byteLength,
        path: f.path,
        ...(f.lfs ? { lfs: { oid: f.sha256, size: f.bytes.byteLength, pointerSize: 134 } } : {}),
      }));
      const cursor = Number(url.searchParams.get('cursor') ?? '0');
      const page = entries.slice(cursor, cursor + this.pageSize);
      const headers: Record<string, string> = { 'Content-Type': 'application/json' };
      if (cursor + this.pageSize < entries.length) {
        const next = new URL(url);
        next.searchParams.set('cursor', String(cursor + this.pageSize));
        headers.Link = `<${next.href}>; rel="next"`;
      }
      res.writeHead(200, headers);
      res.end(JSON.stringify(page));
      return 200;
    }
    return this.error(res, 404, 'EntryNotFound', 'Unknown API path');
  }

  private resolve(id: string, revision: string, path: string, req: IncomingMessage, res: ServerResponse): number {
    const entry = this.repos.get(id);
    if (!entry) return this.error(res, 401, 'RepoNotFound', 'Repository not found');
    const { repo, sha, files } = entry;
    if (revision !== sha && revision !== 'main') return this.error(res, 404, 'RevisionNotFound', 'Invalid rev id');
    if (repo.gated) {
      const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      if (!token) return this.error(res, 401, 'GatedRepo', `Access to model ${id} is restricted. You must have access to it and be authenticated to access it. Please log in.`);
      if (!repo.granted?.includes(token)) return this.error(res, 403, 'GatedRepo', `Access to model ${id} is restricted and you are not in the authorized list. Visit ${this.url}/${id} to ask for access.`);
    }
    const file = files.find((f) => f.path === path);
    if (!file) return this.error(res, 404, 'EntryNotFound', `${path} does not exist`);
    if (file.lfs) {
      res.writeHead(302, {
        Location: `${this.url}/cdn/${file.sha256}`,
        'X-Linked-Etag': `"${file.sha256}"`,
        'X-Linked-Size': String(file.bytes.byteLength),
        'X-Repo-Commit': sha,
        ETag: `"${file.gitOid}"`,
      });
      res.end();
      return 302;
    }
    return this.send(file, req, res, { ETag: `"${file.gitOid}"`, 'X-Repo-Commit': sha });
  }

  private cdn(sha256: string, req: IncomingMessage, res: ServerResponse): number {
    for (const { files } of this.repos.values()) {
      const file = files.find((f) => f.lfs && f.sha256 === sha256);
      if (file) return this.send(file, req, res, { ETag: `"${sha256}"` });
    }
    res.writeHead(404).end();
    return 404;
  }

  /** The bytes, honouring a `Range: bytes=a-` (or a-b) header as a CDN does. */
  private send(file: Stored, req: IncomingMessage, res: ServerResponse, headers: Record<string, string>): number {
    let bytes = Buffer.from(file.bytes);
    if (this.corrupt?.path === file.path) {
      bytes = Buffer.from(bytes);
      bytes[this.corrupt.at] ^= 0xff;
    }
    const size = bytes.length;
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    let start = 0;
    let end = size - 1;
    let status = 200;
    if (range) {
      start = Number(range[1]);
      if (range[2]) end = Math.min(end, Number(range[2]));
      if (start >= size) {
        res.writeHead(416, { 'Content-Range': `bytes */${size}` }).end();
        return 416;
      }
      status = 206;
      headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
    }
    const body = bytes.subarray(start, end + 1);
    res.writeHead(status, { ...headers, 'Content-Length': String(body.length), 'Accept-Ranges': 'bytes', 'Content-Type': 'application/octet-stream' });
    if (req.method === 'HEAD') {
      res.end();
      return status;
    }
    const cut = this.cutAfter;
    if (cut && cut.path === file.path && body.length > cut.bytes) {
      this.cutAfter = null;
      res.write(body.subarray(0, cut.bytes), () => res.socket?.destroy());
      return status;
    }
    if (this.chunkDelayMs > 0) {
      const piece = 64 * 1024;
      const next = (at: number) => {
        if (res.destroyed) return;
        if (at + piece >= body.length) return void res.end(body.subarray(at));
        res.write(body.subarray(at, at + piece));
        setTimeout(next, this.chunkDelayMs, at + piece);
      };
      next(0);
      return status;
    }
    res.end(body);
    return status;
  }
}
