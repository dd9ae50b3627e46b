{#-
    Seeds on dbt-spark's session method bind every value as a float or an unescaped string, so a
    threshold like 19999.99 passes through binary floating point and a tier name containing a
    quote breaks (or injects into) the INSERT. This override renders each value as a properly
    escaped SQL string literal and lets Spark cast it to the declared column type: exact
    decimals, and names such as `Pay'n'Save, Gold` stored verbatim.
    dbt dispatch prefers the root project's `spark__load_csv_rows` over dbt-spark's own.
-#}
{% macro spark__load_csv_rows(model, agate_table) %}
    {%- set column_override = model['config'].get('column_types', {}) -%}
    {%- set statements = [] -%}
    {%- for chunk in agate_table.rows | batch(get_batch_size()) -%}
        {%- set sql -%}
            insert into {{ this.render() }} values
            {% for row in chunk -%}
                ({%- for col_name in agate_table.column_names -%}
                    {%- set inferred_type = adapter.convert_type(agate_table, loop.index0) -%}
                    {%- set type = column_override.get(col_name, inferred_type) -%}
                    cast({{ loyalty_sql_literal(row[loop.index0]) }} as {{ type }})
                    {%- if not loop.last %}, {% endif -%}
                {%- endfor -%})
                {%- if not loop.last %},{% endif %}
            {% endfor %}
        {%- endset -%}
        {%- do adapter.add_query(sql, abridge_sql_log=True) -%}
        {%- if loop.first -%}{%- do statements.append(sql) -%}{%- endif -%}
    {%- endfor -%}
    {{ return(statements[0] if statements else '') }}
{% endmacro %}


{#- A value as a Spark SQL string literal (or null). Decimals keep their exact digits. -#}
{% macro loyalty_sql_literal(value) %}
    {%- if value is none -%}
        {{ return('null') }}
    {%- endif -%}
    {%- set text = value | string -%}
    {%- set escaped = text.replace('\\', '\\\\').replace("'", "\\'") -%}
    {{ return("'" ~ escaped ~ "'") }}
{% endmacro %}
