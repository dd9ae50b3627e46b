{#-
    Run settings, each resolved as: dbt `--vars` > LOYALTY_* environment variable > default.
    Every value is validated here, so a typo fails the run with a message naming the setting
    instead of silently producing tiers for the wrong window.
-#}

{% macro _loyalty_setting(var_name, env_name, default) %}
    {%- set value = var(var_name, none) -%}
    {%- if value is none or (value | string | trim) == '' -%}
        {%- set value = env_var(env_name, '') -%}
    {%- endif -%}
    {%- if value is none or (value | string | trim) == '' -%}
        {%- set value = default -%}
    {%- endif -%}
    {{ return(value | string | trim) }}
{% endmacro %}


{% macro loyalty_as_of_date() %}
    {%- set raw = _loyalty_setting('as_of_date', 'LOYALTY_AS_OF_DATE', run_started_at.strftime('%Y-%m-%d')) -%}
    {%- set problem = 'as_of_date (var) / LOYALTY_AS_OF_DATE must be a date YYYY-MM-DD, got "' ~ raw ~ '"' -%}
    {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', raw) -%}
        {{ exceptions.raise_compiler_error(problem) }}
    {%- endif -%}
    {%- set year, month, day = raw[0:4] | int, raw[5:7] | int, raw[8:10] | int -%}
    {%- if month < 1 or month > 12 or day < 1 or year < 1 -%}
        {{ exceptions.raise_compiler_error(problem) }}
    {%- endif -%}
    {%- set next_month = modules.datetime.date(year + (month // 12), (month % 12) + 1, 1) -%}
    {%- set days_in_month = (next_month - modules.datetime.timedelta(days=1)).day -%}
    {%- if day > days_in_month -%}
        {{ exceptions.raise_compiler_error(problem) }}
    {%- endif -%}
    {{ return(raw) }}
{% endmacro %}


{% macro loyalty_qualifying_months() %}
    {%- set raw = _loyalty_setting('qualifying_months', 'LOYALTY_QUALIFYING_MONTHS', '12') -%}
    {%- if not modules.re.match('^[0-9]{1,4}$', raw) or (raw | int) < 1 or (raw | int) > 1200 -%}
        {{ exceptions.raise_compiler_error(
            'qualifying_months (var) / LOYALTY_QUALIFYING_MONTHS must be a whole number of months '
            ~ 'from 1 to 1200, got "' ~ raw ~ '"') }}
    {%- endif -%}
    {{ return(raw | int) }}
{% endmacro %}


{% macro loyalty_null_amount_policy() %}
    {%- set allowed = ['impute_same_day_avg', 'exclude', 'zero'] -%}
    {%- set raw = _loyalty_setting('null_amount_policy', 'LOYALTY_NULL_AMOUNT_POLICY', 'impute_same_day_avg') -%}
    {%- if raw not in allowed -%}
        {{ exceptions.raise_compiler_error(
            'null_amount_policy (var) / LOYALTY_NULL_AMOUNT_POLICY must be one of '
            ~ allowed | join(', ') ~ ', got "' ~ raw ~ '"') }}
    {%- endif -%}
    {{ return(raw) }}
{% endmacro %}


{% macro loyalty_qualifying_window() %}
    {#- SQL expressions for the window's first and last day, both inclusive. add_months clamps to
        the month's last day exactly like MySQL's DATE_SUB(d, INTERVAL n MONTH). -#}
    {%- set as_of = "cast('" ~ loyalty_as_of_date() ~ "' as date)" -%}
    {{ return({
        'start': 'add_months(' ~ as_of ~ ', -' ~ loyalty_qualifying_months() ~ ')',
        'end': as_of,
    }) }}
{% endmacro %}
