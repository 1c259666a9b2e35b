#!/bin/sh
# Renders the committed Alertmanager configuration with the real Telegram settings.
#
#   usage: render.sh <input alertmanager.yml> <output file>
#
# Environment:
#   TELEGRAM_BOT_TOKEN  required; the bot's token from @BotFather, <digits>:<letters, digits, _ or ->
#   TELEGRAM_CHAT_ID    required; the chat's integer id (groups and channels are negative)
#   TELEGRAM_API_URL    optional; default https://api.telegram.org (tests point it at a fake)
#
# Alertmanager 0.25 neither expands environment variables nor reads the token from a file, so the
# input holds placeholders (TELEGRAM_BOT_TOKEN_PLACEHOLDER, chat_id: -1000000000000,
# api_url: https://api.telegram.org) that this script replaces.
#
# Alertmanager resolves the `templates:` paths of its configuration relative to the directory of
# --config.file (not the working directory), so when the output is in another directory, the
# templates/ folder next to the input is copied next to the output.
#
# The rendered file holds the bot token: it is written with mode 600, so run this script as the
# user that runs Alertmanager. If amtool is on the PATH, the result is checked with
# `amtool check-config` before it replaces the output. Exit status: 0 rendered, 1 error, 2 usage.
# POSIX sh: runs in the busybox-based prom/alertmanager image.

set -eu

fail() {
  echo "render.sh: $*" >&2
  exit 1
}

if [ "$#" -ne 2 ]; then
  echo "usage: $0 <input alertmanager.yml> <output file>" >&2
  exit 2
fi
input=$1
output=$2

# --- the environment ----------------------------------------------------------------------------

token=${TELEGRAM_BOT_TOKEN:-}
chat_id=${TELEGRAM_CHAT_ID:-}
api_url=${TELEGRAM_API_URL:-https://api.telegram.org}

[ -n "$token" ] || fail "TELEGRAM_BOT_TOKEN is not set: give the bot's token from @BotFather (<digits>:<characters>)"
# Never print the token itself, even when it is wrong.
token_id=${token%%:*}
token_secret=${token#*:}
case $token in
  *:*) ;;
  *) fail "TELEGRAM_BOT_TOKEN is malformed: expected <digits>:<letters, digits, _ or ->, found no ':'" ;;
esac
case $token_id in
  '' | *[!0-9]*) fail "TELEGRAM_BOT_TOKEN is malformed: the part before ':' must be the bot's numeric id" ;;
esac
case $token_secret in
  '' | *[!A-Za-z0-9_-]*) fail "TELEGRAM_BOT_TOKEN is malformed: the part after ':' must be letters, digits, '_' or '-' (no spaces or newlines)" ;;
esac

[ -n "$chat_id" ] || fail "TELEGRAM_CHAT_ID is not set: give the chat's integer id (e.g. -1001234567890 for a group)"
chat_digits=${chat_id#-}
case $chat_digits in
  '' | *[!0-9]*) fail "TELEGRAM_CHAT_ID is malformed: expected an integer such as -1001234567890, got '$chat_id'" ;;
esac
case $chat_digits in
  *[!0]*) ;;
  *) fail "TELEGRAM_CHAT_ID is malformed: 0 is not a chat id" ;;
esac
[ "${#chat_digits}" -le 18 ] || fail "TELEGRAM_CHAT_ID is malformed: '$chat_id' is too long for a chat id"
[ "$chat_id" != "-1000000000000" ] || fail "TELEGRAM_CHAT_ID is still the placeholder -1000000000000"

api_url=${api_url%/}
case $api_url in
  http://?* | https://?*) ;;
  *) fail "TELEGRAM_API_URL is malformed: expected an http:// or https:// URL, got '$api_url'" ;;
esac
case $api_url in
  *[!A-Za-z0-9._~:/@%+-]*) fail "TELEGRAM_API_URL is malformed: only a scheme, host, port and path are allowed, got '$api_url'" ;;
esac

# --- the files ----------------------------------------------------------------------------------

[ -f "$input" ] || fail "input '$input' is not a file"
grep -Eq '^[[:space:]]*(-[[:space:]]*)?bot_token:[[:space:]]*TELEGRAM_BOT_TOKEN_PLACEHOLDER[[:space:]]*$' "$input" ||
  fail "input '$input' has no 'bot_token: TELEGRAM_BOT_TOKEN_PLACEHOLDER' (already rendered?)"
grep -Eq '^[[:space:]]*(-[[:space:]]*)?chat_id:[[:space:]]*-1000000000000[[:space:]]*$' "$input" ||
  fail "input '$input' has no 'chat_id: -1000000000000' placeholder (already rendered?)"

input_dir=$(cd "$(dirname "$input")" && pwd -P)
mkdir -p "$(dirname "$output")" || fail "cannot create the directory of '$output'"
output_dir=$(cd "$(dirname "$output")" && pwd -P)
output_path=$output_dir/$(basename "$output")
[ "$input_dir/$(basename "$input")" != "$output_path" ] || fail "the output would overwrite the input '$input'"

# Templates are resolved relative to the configuration file: bring them along.
if [ -d "$input_dir/templates" ] && [ "$input_dir" != "$output_dir" ]; then
  mkdir -p "$output_dir/templates"
  cp -R "$input_dir/templates/." "$output_dir/templates/" || fail "cannot copy the templates to '$output_dir/templates'"
fi

tmp=$output_path.tmp.$$
trap 'rm -f "$tmp"' EXIT HUP INT TERM
(
  umask 077
  # Only the values of the bot_token, chat_id and api_url keys change; comments stay as they are.
  key='^\([[:space:]]*\(-[[:space:]]*\)\{0,1\}'
  sed \
    -e "s|${key}bot_token:[[:space:]]*\)TELEGRAM_BOT_TOKEN_PLACEHOLDER[[:space:]]*\$|\1$token|" \
    -e "s|${key}chat_id:[[:space:]]*\)-1000000000000[[:space:]]*\$|\1$chat_id|" \
    -e "s|${key}api_url:[[:space:]]*\)https://api\.telegram\.org/*[[:space:]]*\$|\1$api_url|" \
    "$input" >"$tmp"
) || fail "cannot write '$tmp'"

if grep -Eq '^[^#]*(TELEGRAM_BOT_TOKEN_PLACEHOLDER|chat_id:[[:space:]]*-1000000000000)' "$tmp"; then
  fail "placeholders are left in the rendered configuration"
fi

if command -v amtool >/dev/null 2>&1; then
  if ! check=$(amtool check-config "$tmp" 2>&1); then
    printf '%s\n' "$check" >&2
    fail "the rendered configuration does not pass amtool check-config"
  fi
fi

mv -f "$tmp" "$output_path" || fail "cannot write '$output_path'"
trap - EXIT HUP INT TERM
echo "render.sh: wrote $output_path" >&2
