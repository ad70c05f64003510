// The before/after swipe: two stacked images, the "after" one clipped from the slider's position to
// the right edge. The slider is a range input covering the images: drag anywhere, or use the keys.

/** Loads an image element's source and resolves when it has pixels, or rejects naming the URL. */
function loadImage(img, url) {
  return new Promise((resolve, reject) => {
    const done = () => {
      img.removeEventListener('load', onLoad);
      img.removeEventListener('error', onError);
    };
    const onLoad = () => {
      done();
      if (img.naturalWidth > 0) resolve(img);
      else reject(new Error(`${url}: the image is empty`));
    };
    const onError = () => {
      done();
      reject(new Error(`${url}: the image could not be loaded`));
    };
    img.addEventListener('load', onLoad);
    img.addEventListener('error', onError);
    img.src = url;
  });
}

/** A before/after swipe over the elements of index.html's #swipe. */
export class Swipe {
  /** Wires the swipe's elements; onChange(percent) is called whenever the slider moves. */
  constructor(root, onChange = () => {}) {
    this.root = root;
    this.before = root.querySelector('#swipe-before');
    this.after = root.querySelector('#swipe-after');
    this.divider = root.querySelector('#swipe-divider');
    this.range = root.querySelector('#swipe-range');
    this.onChange = onChange;
    this.range.addEventListener('input', () => this.set(Number(this.range.value)));
    this.set(Number(this.range.value));
  }

  /** Moves the split to a percentage of the width (0: all super-resolved, 100: all bicubic). */
  set(percent) {
    const p = Math.min(100, Math.max(0, Number.isFinite(percent) ? percent : 50));
    this.after.style.clipPath = `inset(0 0 0 ${p}%)`;
    this.divider.style.left = `${p}%`;
    this.range.value = String(p);
    this.range.setAttribute('aria-valuetext', `bicubic on the left ${Math.round(p)} %, super-resolved on the right`);
    this.onChange(p);
  }

  /** Shows a pair of images; resolves when both have loaded, rejects naming the one that failed. */
  async show(beforeUrl, afterUrl) {
    this.root.setAttribute('aria-busy', 'true');
    try {
      const [b] = await Promise.all([loadImage(this.before, beforeUrl), loadImage(this.after, afterUrl)]);
      this.root.style.aspectRatio = `${b.naturalWidth} / ${b.naturalHeight}`;
    } finally {
      this.root.removeAttribute('aria-busy');
    }
  }

  /** Forgets the images. */
  clear() {
    this.before.removeAttribute('src');
    this.after.removeAttribute('src');
  }
}
