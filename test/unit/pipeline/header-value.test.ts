import { describe, expect, it } from 'vitest';
import { hasLineBreakingChar, isToken, isValidHeaderValue } from '../../../src/pipeline/header-value.js';

describe('isValidHeaderValue', () => {
  it.each([
    ['', true],
    ['Bearer abc.def-ghi_jkl', true],
    ['with space and\ttab', true],
    ['!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~', true],
    ['obs-text \x80\xa0\xff', true],
    [' leading and trailing ', true],
    ['cr\r', false],
    ['lf\n', false],
    ['crlf\r\nX-Injected: 1', false],
    ['nul\0', false],
    ['bell\x07', false],
    ['esc\x1b', false],
    ['del\x7f', false],
    ['vtab\x0b', false],
    ['above latin-1 \u0100', false],
    ['emoji 🔑', false],
  ])('%j → %s', (v, expected) => {
    expect(isValidHeaderValue(v)).toBe(expected);
  });
});

describe('isToken', () => {
  it.each([
    ['Authorization', true],
    ['X-Api-Key', true],
    ["!#$%&'*+-.^_`|~09azAZ", true],
    ['', false],
    ['X Api', false],
    ['X-Api:', false],
    ['X-Api\r\n', false],
    ['(comment)', false],
    ['"quoted"', false],
    ['a/b', false],
    ['ünï', false],
  ])('%j → %s', (name, expected) => {
    expect(isToken(name)).toBe(expected);
  });
});

describe('hasLineBreakingChar', () => {
  it.each([
    ['plain', false],
    ['tab\tok', false],
    ['a\rb', true],
    ['a\nb', true],
    ['a\0b', true],
  ])('%j → %s', (v, expected) => {
    expect(hasLineBreakingChar(v)).toBe(expected);
  });
});
