{% macro register_lake_sources() %}
    {{ return(adapter.dispatch('register_lake_sources', 'loyalty_tiers')()) }}
{% endmacro %}


{#- Adapters without a local lake: dlt loads real tables; there is nothing to register. -#}
{% macro default__register_lake_sources() %}
    {{ return('') }}
{% endmacro %}


{#-
    Databricks: dlt loads real Unity Catalog tables; there is nothing to register. This must be
    explicit: dbt-databricks dispatches databricks__ -> spark__ -> default__, so without it the
    local-lake version below would run on Databricks and fail every build.
-#}
{% macro databricks__register_lake_sources() %}
    {{ return('') }}
{% endmacro %}


{#-
    Local Spark: expose the dlt-written Parquet folders under LOYALTY_HOME as the `mysql` source.
    The schema is declared, not inferred: an empty lake (a source table with no rows yet) still
    yields a readable, empty table, and every Parquet file must match these physical types.
    `set location` + `refresh` make a moved LOYALTY_HOME or new files visible; the session
    cursor runs one statement per call.
-#}
{% macro spark__register_lake_sources() %}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set home = env_var('LOYALTY_HOME', '') -%}
    {%- if not home.startswith('/') -%}
        {{ exceptions.raise_compiler_error(
            'LOYALTY_HOME must be an absolute path (got "' ~ home ~ '"); e.g. export LOYALTY_HOME=$PWD/.loyalty') }}
    {%- endif -%}
    {%- set lake = home.rstrip('/') ~ '/lake/' ~ loyalty_raw_schema() -%}
    {%- set schema = adapter.quote(loyalty_raw_schema()) -%}
    {%- set tables = {
        'transactions': {
            'columns': 'transaction_id bigint, customer_id bigint, transaction_date date, '
                ~ 'amount decimal(10,2), _dlt_load_id string',
            'format': 'parquet',
        },
        '_dlt_loads': {
            'columns': 'load_id string, schema_name string, status bigint, inserted_at string, '
                ~ 'schema_version_hash string',
            'format': 'json',
        },
    } -%}
    {%- do run_query('create schema if not exists ' ~ schema) -%}
    {%- for name, table in tables.items() -%}
        {%- set relation = schema ~ '.' ~ adapter.quote(name) -%}
        {%- set location = "'" ~ lake ~ '/' ~ name ~ "'" -%}
        {%- do run_query('create table if not exists ' ~ relation ~ ' (' ~ table.columns ~ ') using '
            ~ table.format ~ ' location ' ~ location) -%}
        {%- do run_query('alter table ' ~ relation ~ ' set location ' ~ location) -%}
        {%- do run_query('refresh table ' ~ relation) -%}
    {%- endfor -%}
    {{ return('') }}
{% endmacro %}


{#- The raw schema (dlt dataset): var raw_schema > LOYALTY_RAW_SCHEMA > raw_mysql, as the source. -#}
{% macro loyalty_raw_schema() %}
    {{ return(_loyalty_setting('raw_schema', 'LOYALTY_RAW_SCHEMA', 'raw_mysql')) }}
{% endmacro %}
