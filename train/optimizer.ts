/**
 * Optimisers whose whole state (moments, iteration count, Nadam's momentum schedule) can be saved in a
 * checkpoint and restored bit for bit: Nadam exactly as Keras 2 implements it (the optimiser DSen2 was
 * trained with, `schedule_decay` 0.004) and Adam as Keras 2 implements it. tfjs ships no Nadam.
 */
import type * as TF from '@tensorflow/tfjs';

type Tf = typeof TF;

/** The optimisers training offers. */
export const OPTIMIZERS = ['nadam', 'adam'] as const;

/** An optimiser name. */
export type OptimizerKind = (typeof OPTIMIZERS)[number];

/** Hyper-parameters (Keras' defaults: beta1 0.9, beta2 0.999, epsilon 1e-8, scheduleDecay 0.004). */
export interface OptimizerSettings {
  readonly kind: OptimizerKind;
  readonly beta1?: number;
  readonly beta2?: number;
  readonly epsilon?: number;
  /** Nadam's momentum schedule decay. */
  readonly scheduleDecay?: number;
}

/** The scalar part of an optimiser's state (the moments travel as tensors). */
export interface OptimizerScalars {
  readonly kind: OptimizerKind;
  readonly iterations: number;
  /** Nadam's running product of momentum-cache values (1 for Adam). */
  readonly mSchedule: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly scheduleDecay: number;
}

/** First- and second-moment optimiser over named tfjs variables. */
export class MomentOptimizer {
  readonly kind: OptimizerKind;
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly epsilon: number;
  private readonly scheduleDecay: number;
  private iterations = 0;
  private mSchedule = 1;
  private readonly m = new Map<string, TF.Variable>();
  private readonly v = new Map<string, TF.Variable>();

  constructor(
    private readonly tf: Tf,
    private readonly vars: ReadonlyMap<string, TF.Variable>,
    settings: OptimizerSettings,
  ) {
    if (!(OPTIMIZERS as readonly string[]).includes(settings.kind)) throw new Error(`unknown optimiser "${settings.kind}" (optimisers: ${OPTIMIZERS.join(', ')})`);
    this.kind = settings.kind;
    this.beta1 = settings.beta1 ?? 0.9;
    this.beta2 = settings.beta2 ?? 0.999;
    this.epsilon = settings.epsilon ?? 1e-8;
    this.scheduleDecay = settings.scheduleDecay ?? 0.004;
    for (const [name, w] of vars) {
      this.m.set(name, tf.tidy(() => tf.variable(tf.zerosLike(w), false)));
      this.v.set(name, tf.tidy(() => tf.variable(tf.zerosLike(w), false)));
    }
  }

  /** Applies one update with the given gradients (by variable name) and learning rate. */
  apply(grads: Readonly<Record<string, TF.Tensor>>, lr: number): void {
    const tf = this.tf;
    const t = this.iterations + 1;
    const b1 = this.beta1;
    const b2 = this.beta2;
    if (this.kind === 'nadam') {
      // Keras 2 Nadam (keras/optimizers.py): Dozat's Nesterov Adam with a warming momentum schedule.
      const mu = b1 * (1 - 0.5 * 0.96 ** (t * this.scheduleDecay));
      const muNext = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * this.scheduleDecay));
      const mSchedNew = this.mSchedule * mu;
      const mSchedNext = this.mSchedule * mu * muNext;
      const vCorr = 1 - b2 ** t;
      for (const [name, w] of this.vars) {
        const g = grads[name];
        if (!g) continue;
        const m = this.m.get(name)!;
        const v = this.v.get(name)!;
        tf.tidy(() => {
          const gPrime = tf.div(g, 1 - mSchedNew);
          const mt = tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1));
          const mtPrime = tf.div(mt, 1 - mSchedNext);
          const vt = tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2));
          const vtPrime = tf.div(vt, vCorr);
          const mBar = tf.add(tf.mul(gPrime, 1 - mu), tf.mul(mtPrime, muNext));
          const upd = tf.sub(w, tf.div(tf.mul(mBar, lr), tf.add(tf.sqrt(vtPrime), this.epsilon)));
          m.assign(mt);
          v.assign(vt);
          w.assign(upd);
        });
      }
      this.mSchedule = mSchedNew;
    } else {
      // Keras 2 Adam: lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t).
      const lrT = (lr * Math.sqrt(1 - b2 ** t)) / (1 - b1 ** t);
      for (const [name, w] of this.vars) {
        const g = grads[name];
        if (!g) continue;
        const m = this.m.get(name)!;
        const v = this.v.get(name)!;
        tf.tidy(() => {
          const mt = tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1));
          const vt = tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2));
          const upd = tf.sub(w, tf.div(tf.mul(mt, lrT), tf.add(tf.sqrt(vt), this.epsilon)));
          m.assign(mt);
          v.assign(vt);
          w.assign(upd);
        });
      }
    }
    this.iterations = t;
  }

  /** The scalar state. */
  scalars(): OptimizerScalars {
    return {
      kind: this.kind,
      iterations: this.iterations,
      mSchedule: this.mSchedule,
      beta1: this.beta1,
      beta2: this.beta2,
      epsilon: this.epsilon,
      scheduleDecay: this.scheduleDecay,
    };
  }

  /** The moments as arrays, by variable name. */
  async moments(): Promise<Map<string, { m: Float32Array; v: Float32Array }>> {
    const out = new Map<string, { m: Float32Array; v: Float32Array }>();
    for (const name of this.vars.keys()) {
      out.set(name, { m: (await this.m.get(name)!.data()) as Float32Array, v: (await this.v.get(name)!.data()) as Float32Array });
    }
    return out;
  }

  /** Restores a saved state; throws naming a variable whose moments are missing or mis-sized. */
  restore(scalars: OptimizerScalars, moments: ReadonlyMap<string, { m: Float32Array; v: Float32Array }>): void {
    if (scalars.kind !== this.kind) throw new Error(`checkpoint holds ${scalars.kind} state but the optimiser is ${this.kind}`);
    for (const [name, w] of this.vars) {
      const mv = moments.get(name);
      if (!mv) throw new Error(`checkpoint has no optimiser moments for ${name}`);
      if (mv.m.length !== w.size || mv.v.length !== w.size) throw new Error(`checkpoint moments for ${name} have ${mv.m.length} values, the variable ${w.size}`);
      this.tf.tidy(() => {
        this.m.get(name)!.assign(this.tf.tensor(mv.m, w.shape, 'float32'));
        this.v.get(name)!.assign(this.tf.tensor(mv.v, w.shape, 'float32'));
      });
    }
    this.iterations = scalars.iterations;
    this.mSchedule = scalars.mSchedule;
  }

  /** Frees the moment tensors. */
  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
  }
}

/** Keras' ReduceLROnPlateau state. */
export interface PlateauState {
  readonly lr: number;
  readonly best: number;
  readonly wait: number;
  readonly cooldownCounter: number;
}

/** Settings of the plateau schedule (DSen2: factor 0.5, patience 5, minDelta 1e-6, cooldown 20, minLr 1e-5). */
export interface PlateauSettings {
  readonly factor?: number;
  readonly patience?: number;
  readonly minDelta?: number;
  readonly cooldown?: number;
  readonly minLr?: number;
}

/** Halves (by `factor`) the learning rate when the validation loss has not improved for `patience` epochs, as Keras' ReduceLROnPlateau. */
export class PlateauSchedule {
  private st: { lr: number; best: number; wait: number; cooldownCounter: number };
  readonly factor: number;
  readonly patience: number;
  readonly minDelta: number;
  readonly cooldown: number;
  readonly minLr: number;

  constructor(lr: number, settings: PlateauSettings = {}, state?: PlateauState) {
    this.factor = settings.factor ?? 0.5;
    this.patience = settings.patience ?? 5;
    this.minDelta = settings.minDelta ?? 1e-6;
    this.cooldown = settings.cooldown ?? 0;
    this.minLr = settings.minLr ?? 0;
    if (!(this.factor > 0 && this.factor < 1)) throw new Error(`learning-rate factor must lie in (0, 1), got ${this.factor}`);
    if (!(Number.isInteger(this.patience) && this.patience >= 0)) throw new Error(`patience must be a non-negative integer, got ${this.patience}`);
    this.st = state ? { ...state } : { lr, best: Number.POSITIVE_INFINITY, wait: 0, cooldownCounter: 0 };
  }

  /** The current learning rate. */
  get lr(): number {
    return this.st.lr;
  }

  /** The state to checkpoint. */
  get state(): PlateauState {
    return { ...this.st };
  }

  /** Records an epoch's validation loss; returns true when the learning rate was reduced. */
  update(valLoss: number): boolean {
    const s = this.st;
    if (s.cooldownCounter > 0) {
      s.cooldownCounter--;
      s.wait = 0;
    }
    if (valLoss < s.best - this.minDelta) {
      s.best = valLoss;
      s.wait = 0;
      return false;
    }
    if (s.cooldownCounter > 0) return false;
    s.wait++;
    if (s.wait >= this.patience && s.lr > this.minLr) {
      s.lr = Math.max(s.lr * this.factor, this.minLr);
      s.cooldownCounter = this.cooldown;
      s.wait = 0;
      return true;
    }
    return false;
  }
}
